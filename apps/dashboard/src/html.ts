/** Text for HTML content and attribute values: everything that is not plain ASCII text is escaped. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"'`=]/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

/** A template tag whose interpolations are escaped unless they are Html already. */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0] ?? "";
  values.forEach((value, i) => {
    out += render(value) + (strings[i + 1] ?? "");
  });
  return new Html(out);
}

function render(value: unknown): string {
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(render).join("");
  if (value === undefined || value === null || value === false) return "";
  return escapeHtml(value);
}

// System fonts and inline styles only: the page works on an isolated network and loads nothing else.
const STYLE = `
  :root { color-scheme: light dark; --fg: #1d2430; --muted: #5d6878; --line: #d8dde5; --bg: #fff; --warn: #8a4b00;
    --warn-bg: #fff3e0; --bad: #a01818; --ok: #1d6b34; --accent: #2350a8; }
  @media (prefers-color-scheme: dark) { :root { --fg: #e4e8ef; --muted: #9aa5b5; --line: #364152; --bg: #141a22;
    --warn: #ffcc80; --warn-bg: #3a2a10; --bad: #ff8a80; --ok: #81c995; --accent: #8ab4f8; } }
  body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
    background: var(--bg); margin: 0; }
  header { display: flex; gap: 1.5rem; align-items: baseline; padding: .8rem 1.5rem; border-bottom: 1px solid var(--line); }
  header h1 { font-size: 1.1rem; margin: 0; }
  header a { color: var(--accent); text-decoration: none; }
  main { padding: 1rem 1.5rem 3rem; max-width: 1200px; }
  section { margin: 1.5rem 0; }
  h2 { font-size: 1rem; margin: 0 0 .5rem; }
  table { border-collapse: collapse; min-width: 40%; }
  th, td { text-align: left; padding: .3rem .8rem .3rem 0; border-bottom: 1px solid var(--line); vertical-align: top; }
  td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
  code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; }
  .muted { color: var(--muted); }
  .banner { padding: .6rem 1rem; border-radius: 4px; margin: 1rem 0; }
  .warn { color: var(--warn); background: var(--warn-bg); }
  .error { color: var(--bad); }
  .ok { color: var(--ok); }
  button { font: inherit; padding: .2rem .7rem; cursor: pointer; }
`;

export function layout(title: string, body: Html): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${title}</title>
<style>${new Html(STYLE)}</style>
</head>
<body>
<header>
  <h1>Heidrun</h1>
  <a href="/">Settlement overview</a>
  <a href="/queues">Queues (Bull Board)</a>
  <a href="/metrics">Metrics</a>
</header>
<main>
${body}
</main>
</body>
</html>
`.text;
}
