// The language client's message trace (on when the OpenHands output channel's log level is Trace) would write the
// values of `openhands.setSecret` into the output channel, which VS Code also keeps on disk. The trace goes through
// this wrapper, which masks every secret value the extension knows.
import * as vscode from "vscode";

export class SecretValues {
  private readonly values = new Set<string>();

  add(value: string): void {
    // Very short values would mask ordinary text; no real key or token is that short (the server's rule too).
    if (value.length >= 6) {
      this.values.add(value);
    }
  }

  delete(value: string | undefined): void {
    if (value !== undefined) {
      this.values.delete(value);
    }
  }

  mask(text: string): string {
    let out = text;
    for (const v of [...this.values].sort((a, b) => b.length - a.length)) {
      out = out.split(v).join("***");
      // JSON-escaped forms too (a value with quotes or backslashes appears escaped in a traced message).
      const escaped = JSON.stringify(v).slice(1, -1);
      if (escaped !== v) {
        out = out.split(escaped).join("***");
      }
    }
    return out;
  }
}

/** `isOpen`: once it says no (the extension is being disposed), writes go nowhere: the server's last stderr lines
 * come after VS Code closed the channel, and each would be logged as "Channel has been closed". */
export function redactingChannel(
  inner: vscode.LogOutputChannel,
  secrets: SecretValues,
  isOpen: () => boolean = () => true,
): vscode.LogOutputChannel {
  const m = (s: string) => secrets.mask(s);
  const w =
    <A extends unknown[]>(write: (...a: A) => void) =>
    (...a: A) => {
      if (isOpen()) {
        write(...a);
      }
    };
  const args = (a: unknown[]) => a.map((x) => (typeof x === "string" ? m(x) : x));
  return {
    get name() {
      return inner.name;
    },
    get logLevel() {
      return inner.logLevel;
    },
    onDidChangeLogLevel: inner.onDidChangeLogLevel,
    append: w((v: string) => inner.append(m(v))),
    appendLine: w((v: string) => inner.appendLine(m(v))),
    replace: w((v: string) => inner.replace(m(v))),
    clear: () => inner.clear(),
    show: (a?: unknown, b?: boolean) => (typeof a === "boolean" ? inner.show(a) : inner.show(b)),
    hide: () => inner.hide(),
    dispose: () => undefined, // the inner channel belongs to the extension
    trace: w((msg: string, ...rest: unknown[]) => inner.trace(m(msg), ...args(rest))),
    debug: w((msg: string, ...rest: unknown[]) => inner.debug(m(msg), ...args(rest))),
    info: w((msg: string, ...rest: unknown[]) => inner.info(m(msg), ...args(rest))),
    warn: w((msg: string, ...rest: unknown[]) => inner.warn(m(msg), ...args(rest))),
    error: w((err: string | Error, ...rest: unknown[]) =>
      inner.error(typeof err === "string" ? m(err) : err, ...args(rest)),
    ),
  };
}
