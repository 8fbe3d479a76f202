// Worker-thread entry of the counting pool (see pool.ts). Plain JavaScript so it runs under tsx, vitest
// and bare node alike. Protocol: {id, tokenizer, texts} in; {kind: "result", id, tokens | error, threadId} out.
// Counts cross the thread boundary as numbers (a 2 MiB text has far fewer than 2^53 tokens).
import { parentPort, threadId, workerData } from "node:worker_threads";
import { bpeTextCounter } from "./text-count.mjs";

for (const name of workerData?.preload ?? []) bpeTextCounter(name);
parentPort.postMessage({ kind: "ready", threadId });

parentPort.on("message", (task) => {
  try {
    const count = bpeTextCounter(task.tokenizer);
    let tokens = 0;
    for (const text of task.texts) tokens += count(text);
    parentPort.postMessage({ kind: "result", id: task.id, tokens, threadId });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    parentPort.postMessage({ kind: "result", id: task.id, error: message, threadId });
  }
});
