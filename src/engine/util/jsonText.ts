/**
 * The one validating JSON reader of the engine. Every JSON file a user gives (config.json,
 * safetensors headers, tokenizer files, prompt sets, circuit files) is read through it, so that:
 * - a file over its size limit is refused before it is read;
 * - nesting deeper than a limit is refused before anything recursive touches the value (V8's
 *   JSON.parse and JSON.stringify overflow the stack on values nested thousands deep);
 * - a syntax error is described on one line with its line and column, never with V8's message,
 *   which quotes source text (newlines included);
 * - duplicate keys, which JSON.parse resolves silently to the last one, can be refused.
 * Syntax is checked by a small recognizer that builds nothing; JSON.parse then builds the value.
 */
import * as fs from 'node:fs';

export interface JsonOptions {
  /** Deepest nesting of arrays and objects accepted (default 64). */
  readonly maxDepth?: number;
  /** Refuse a key that appears twice in the same object at the top level (depth 1). */
  readonly uniqueTopKeys?: boolean;
}

export interface JsonFileOptions extends JsonOptions {
  /** Largest file accepted, in bytes (default 512 MiB). */
  readonly maxBytes?: number;
}

/** Receives a one-line description of what is wrong and throws the caller's error. */
export type JsonFail = (detail: string) => never;

export const defaultMaxDepth = 64;

/** Where in `text` offset `pos` is, as "line L, column C" (1-based). */
export function lineColumn(text: string, pos: number): string {
  let line = 1;
  let col = 1;
  for (let i = 0; i < pos && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      col = 1;
    } else col++;
  }
  return `line ${line}, column ${col}`;
}

/** A character for a message: printable as itself, anything else as its code point. */
function showChar(ch: string | undefined): string {
  if (ch === undefined) return 'the end of the file';
  const c = ch.codePointAt(0)!;
  return c >= 0x20 && c < 0x7f ? `'${ch}'` : `character U+${c.toString(16).toUpperCase().padStart(4, '0')}`;
}

const numberRe = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

/** Checks JSON syntax, depth and (optionally) unique top-level keys; returns a problem or undefined. */
export function jsonProblem(text: string, opts: JsonOptions = {}): string | undefined {
  const c = new JsonChecker(text, opts);
  try {
    c.value(0);
    c.ws();
    if (c.i < text.length) c.stop(`unexpected ${showChar(text[c.i])} after the end of the JSON value`);
    return undefined;
  } catch (e) {
    if (e instanceof Stop) return `invalid JSON at ${lineColumn(text, e.pos)}: ${e.msg}`;
    throw e;
  }
}

class Stop {
  constructor(
    readonly pos: number,
    readonly msg: string,
  ) {}
}

/** A recursive-descent checker of JSON text that stops at the first problem, with its position. */
class JsonChecker {
  i = 0;
  private readonly n: number;
  private readonly maxDepth: number;

  constructor(
    private readonly text: string,
    private readonly opts: JsonOptions,
  ) {
    this.n = text.length;
    this.maxDepth = opts.maxDepth ?? defaultMaxDepth;
  }

  stop(msg: string, pos = this.i): never {
    throw new Stop(pos, msg);
  }

  ws(): void {
    while (this.i < this.n) {
      const c = this.text.charCodeAt(this.i);
      if (c === 32 || c === 10 || c === 13 || c === 9) this.i++;
      else break;
    }
  }

  /** A string; text[i] is its opening quote. */
  string(): void {
    const text = this.text;
    this.i++;
    for (;;) {
      if (this.i >= this.n) this.stop('a string is not closed');
      const c = text.charCodeAt(this.i);
      if (c === 34) {
        this.i++;
        return;
      }
      if (c === 92) {
        const e = text[this.i + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(this.i + 2, this.i + 6))) this.stop('a \\u escape needs four hex digits');
          this.i += 6;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) this.i += 2;
        else this.stop(`invalid escape \\${e ?? ''} in a string`);
      } else if (c < 0x20) this.stop(`${showChar(text[this.i])} inside a string (control characters must be escaped)`);
      else this.i++;
    }
  }

  value(depth: number): void {
    this.ws();
    const text = this.text;
    const ch = text[this.i];
    if (ch === '{' || ch === '[') return this.container(ch, depth);
    if (ch === '"') return this.string();
    if (ch === 't' || ch === 'f' || ch === 'n') {
      for (const lit of ['true', 'false', 'null']) {
        if (text.startsWith(lit, this.i)) {
          this.i += lit.length;
          return;
        }
      }
    }
    numberRe.lastIndex = this.i;
    const m = numberRe.exec(text);
    if (m && m[0].length > 0) {
      this.i += m[0].length;
      return;
    }
    this.stop(`expected a value, found ${showChar(ch)}`);
  }

  /** An object or array; text[i] is its opening bracket. */
  private container(ch: '{' | '[', depth: number): void {
    const text = this.text;
    if (depth + 1 > this.maxDepth) this.stop(`nested more than ${this.maxDepth} levels deep, deeper than this kind of file ever is`);
    const close = ch === '{' ? '}' : ']';
    const keys = ch === '{' && depth === 0 && this.opts.uniqueTopKeys ? new Set<string>() : undefined;
    this.i++;
    this.ws();
    if (text[this.i] === close) {
      this.i++;
      return;
    }
    for (;;) {
      if (ch === '{') this.key(keys);
      this.value(depth + 1);
      this.ws();
      if (text[this.i] === ',') {
        this.i++;
        continue;
      }
      if (text[this.i] === close) {
        this.i++;
        return;
      }
      this.stop(`expected ',' or '${close}', found ${showChar(text[this.i])}`);
    }
  }

  /** An object key and its colon; `keys` collects top-level keys when they must be unique. */
  private key(keys: Set<string> | undefined): void {
    const text = this.text;
    this.ws();
    if (text[this.i] !== '"') this.stop(`expected a key in quotes, found ${showChar(text[this.i])}`);
    const start = this.i;
    this.string();
    if (keys) {
      const key = JSON.parse(text.slice(start, this.i)) as string;
      if (keys.has(key)) this.stop(`key ${JSON.stringify(key.length > 60 ? key.slice(0, 57) + '...' : key)} appears twice`, start);
      keys.add(key);
    }
    this.ws();
    if (text[this.i] !== ':') this.stop(`expected ':' after a key, found ${showChar(text[this.i])}`);
    this.i++;
  }
}

/** Parses JSON text after checking it; `fail` receives a one-line description of any problem. */
export function parseJson(text: string, fail: JsonFail, opts: JsonOptions = {}): unknown {
  const problem = jsonProblem(text, opts);
  if (problem !== undefined) fail(problem);
  try {
    return JSON.parse(text);
  } catch {
    // The recognizer accepts only what JSON.parse accepts; this is a guard, not a path.
    return fail('invalid JSON');
  }
}

/** Why a file cannot be read, in words (for fs errors). */
export function fsProblem(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return 'does not exist';
    case 'EACCES':
    case 'EPERM':
      return 'cannot be read (permission denied)';
    case 'EISDIR':
      return 'is a folder, not a file';
    case 'ENOTDIR':
      return 'does not exist (a part of its path is a file, not a folder)';
    case 'ELOOP':
      return 'is a symbolic link loop';
    default:
      return `cannot be read (${code ?? 'unknown error'})`;
  }
}

/**
 * Reads a regular file of at most `maxBytes` bytes, checking the size before reading anything.
 * `fail` gets a one-line reason.
 */
export function readFileBounded(file: string, fail: JsonFail, maxBytes = 512 * 1024 * 1024): Buffer {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    return fail(fsProblem(e));
  }
  if (st.isDirectory()) fail('is a folder, not a file');
  if (!st.isFile()) fail('is not a regular file');
  if (st.size > maxBytes) fail(`is ${st.size} bytes, more than the ${maxBytes} this kind of file can plausibly need; is it the right file?`);
  try {
    return fs.readFileSync(file);
  } catch (e) {
    return fail(fsProblem(e));
  }
}

/** Reads and parses a JSON file with size and depth limits; `fail` gets a one-line reason. */
export function readJsonFile(file: string, fail: JsonFail, opts: JsonFileOptions = {}): unknown {
  const text = readFileBounded(file, fail, opts.maxBytes).toString('utf8');
  return parseJson(text, fail, opts);
}

/** True for a plain JSON object (not null, not an array). */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The JSON type of a value, for messages ("an array", "null", "a number"). */
export function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return typeof v === 'string' ? 'a string' : typeof v === 'number' ? 'a number' : typeof v === 'boolean' ? 'a boolean' : typeof v;
}
