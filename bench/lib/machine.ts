import { cpus, loadavg, release, totalmem } from "node:os";

export interface MachineFacts {
  cpu: string;
  cores: number;
  memoryGb: number;
  kernel: string;
  node: string;
}

export function machineFacts(): MachineFacts {
  const list = cpus();
  return {
    cpu: list[0]?.model.trim() ?? "unknown",
    cores: list.length,
    memoryGb: Math.round(totalmem() / 1024 ** 3),
    kernel: release(),
    node: process.version,
  };
}

/** The 1, 5 and 15-minute load averages, as `7.32 / 9.59 / 11.23`. */
export function loadAverage(): string {
  return loadavg()
    .map((value) => value.toFixed(2))
    .join(" / ");
}
