// A small JSON value type with a parser and a serializer, enough for a
// plugin to read its request and write its response.

export const enum Kind {
  Null,
  Bool,
  Number,
  String,
  Array,
  Object,
}

const MAX_DEPTH = 128;

// Scalars share these empty lists, so parsing allocates one object per
// scalar; arrays and objects get their own.
const NO_ITEMS = new Array<Value>(0);
const NO_KEYS = new Array<string>(0);

/**
 * One JSON value. Objects keep members in document order (keys[i] names
 * items[i]); get returns the last member of a name. items and keys of a
 * scalar are shared and empty: build values with the static constructors
 * and set, never by pushing onto a scalar's lists.
 */
export class Value {
  kind: Kind = Kind.Null;
  bool: bool = false;
  num: f64 = 0;
  str: string = "";
  items: Array<Value> = NO_ITEMS;
  keys: Array<string> = NO_KEYS;

  static null(): Value {
    return new Value();
  }

  static bool(b: bool): Value {
    const v = new Value();
    v.kind = Kind.Bool;
    v.bool = b;
    return v;
  }

  static number(n: f64): Value {
    const v = new Value();
    v.kind = Kind.Number;
    v.num = n;
    return v;
  }

  static string(s: string): Value {
    const v = new Value();
    v.kind = Kind.String;
    v.str = s;
    return v;
  }

  static array(items: Array<Value>): Value {
    const v = new Value();
    v.kind = Kind.Array;
    v.items = items;
    return v;
  }

  static strings(items: Array<string>): Value {
    const out = new Array<Value>(0);
    for (let i = 0; i < items.length; i++) out.push(Value.string(items[i]));
    return Value.array(out);
  }

  static object(): Value {
    const v = new Value();
    v.kind = Kind.Object;
    v.items = new Array<Value>(0);
    v.keys = new Array<string>(0);
    return v;
  }

  /** Sets key on an object (replacing an existing member) and returns the object, for chaining. */
  set(key: string, value: Value): Value {
    if (this.kind != Kind.Object) return this;
    const i = this.keys.lastIndexOf(key);
    if (i >= 0) {
      this.items[i] = value;
    } else {
      this.keys.push(key);
      this.items.push(value);
    }
    return this;
  }

  /** The member key of an object, or null. */
  get(key: string): Value | null {
    if (this.kind != Kind.Object) return null;
    const i = this.keys.lastIndexOf(key);
    return i < 0 ? null : this.items[i];
  }

  isString(): bool {
    return this.kind == Kind.String;
  }

  isArray(): bool {
    return this.kind == Kind.Array;
  }

  isObject(): bool {
    return this.kind == Kind.Object;
  }

  isNull(): bool {
    return this.kind == Kind.Null;
  }

  toJSON(): string {
    const parts = new Array<string>(0);
    this.write(parts);
    return parts.join("");
  }

  write(out: Array<string>): void {
    switch (this.kind) {
      case Kind.Null:
        out.push("null");
        break;
      case Kind.Bool:
        out.push(this.bool ? "true" : "false");
        break;
      case Kind.Number:
        out.push(formatNumber(this.num));
        break;
      case Kind.String:
        out.push(quote(this.str));
        break;
      case Kind.Array:
        out.push("[");
        for (let i = 0; i < this.items.length; i++) {
          if (i > 0) out.push(",");
          this.items[i].write(out);
        }
        out.push("]");
        break;
      case Kind.Object:
        out.push("{");
        for (let i = 0; i < this.keys.length; i++) {
          if (i > 0) out.push(",");
          out.push(quote(this.keys[i]));
          out.push(":");
          this.items[i].write(out);
        }
        out.push("}");
        break;
    }
  }
}

function formatNumber(n: f64): string {
  if (!isFinite(n)) return "null"; // NaN and infinities have no JSON form
  if (Math.floor(n) == n && Math.abs(n) < 9007199254740992.0) return (<i64>n).toString();
  return n.toString();
}

const HEX = "0123456789abcdef";

/** quote returns s as a JSON string literal. */
export function quote(s: string): string {
  let clean = true;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c == 0x22 || c == 0x5c) {
      clean = false;
      break;
    }
  }
  if (clean) return '"' + s + '"';
  const parts = new Array<string>(0);
  parts.push('"');
  let run = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c != 0x22 && c != 0x5c) continue;
    parts.push(s.substring(run, i));
    run = i + 1;
    if (c == 0x22) parts.push('\\"');
    else if (c == 0x5c) parts.push("\\\\");
    else if (c == 0x0a) parts.push("\\n");
    else if (c == 0x0d) parts.push("\\r");
    else if (c == 0x09) parts.push("\\t");
    else parts.push("\\u00" + HEX.charAt(c >> 4) + HEX.charAt(c & 15));
  }
  parts.push(s.substring(run));
  parts.push('"');
  return parts.join("");
}

/** The outcome of parse: a value, or the reason it failed (error is "" on success). */
export class Parsed {
  value: Value = new Value();
  error: string = "";
}

/** parse reads one JSON document. AssemblyScript has no exceptions, so failure is reported in Parsed.error. */
export function parse(text: string): Parsed {
  const p = new Parser(text);
  const out = new Parsed();
  const v = p.value(0);
  p.ws();
  if (p.err == "" && p.i != text.length) p.fail("trailing data");
  if (p.err != "") {
    out.error = "invalid JSON at offset " + p.i.toString() + ": " + p.err;
  } else {
    out.value = v;
  }
  return out;
}

class Parser {
  s: string;
  i: i32 = 0;
  err: string = "";

  constructor(s: string) {
    this.s = s;
  }

  fail(reason: string): Value {
    if (this.err == "") this.err = reason;
    return new Value();
  }

  peek(): i32 {
    return this.i < this.s.length ? this.s.charCodeAt(this.i) : -1;
  }

  ws(): void {
    while (this.i < this.s.length) {
      const c = this.s.charCodeAt(this.i);
      if (c != 0x20 && c != 0x09 && c != 0x0a && c != 0x0d) break;
      this.i++;
    }
  }

  value(depth: i32): Value {
    if (depth > MAX_DEPTH) return this.fail("nesting too deep");
    this.ws();
    const c = this.peek();
    if (c < 0) return this.fail("unexpected end of input");
    if (c == 0x7b /* { */) {
      this.i++;
      const obj = Value.object();
      this.ws();
      if (this.peek() == 0x7d) {
        this.i++;
        return obj;
      }
      while (true) {
        this.ws();
        if (this.peek() != 0x22) return this.fail("expected object key");
        const key = this.string();
        if (this.err != "") return obj;
        this.ws();
        if (this.peek() != 0x3a) return this.fail("expected ':'");
        this.i++;
        const v = this.value(depth + 1);
        if (this.err != "") return obj;
        obj.keys.push(key);
        obj.items.push(v);
        this.ws();
        const d = this.peek();
        if (d == 0x2c) {
          this.i++;
          continue;
        }
        if (d == 0x7d) {
          this.i++;
          return obj;
        }
        return this.fail("expected ',' or '}'");
      }
    }
    if (c == 0x5b /* [ */) {
      this.i++;
      const arr = Value.array(new Array<Value>(0));
      this.ws();
      if (this.peek() == 0x5d) {
        this.i++;
        return arr;
      }
      while (true) {
        const v = this.value(depth + 1);
        if (this.err != "") return arr;
        arr.items.push(v);
        this.ws();
        const d = this.peek();
        if (d == 0x2c) {
          this.i++;
          continue;
        }
        if (d == 0x5d) {
          this.i++;
          return arr;
        }
        return this.fail("expected ',' or ']'");
      }
    }
    if (c == 0x22) return Value.string(this.string());
    if (c == 0x74) return this.literal("true", Value.bool(true));
    if (c == 0x66) return this.literal("false", Value.bool(false));
    if (c == 0x6e) return this.literal("null", Value.null());
    return this.number();
  }

  literal(word: string, v: Value): Value {
    if (this.s.startsWith(word, this.i)) {
      this.i += word.length;
      return v;
    }
    return this.fail("unexpected character");
  }

  digits(): bool {
    const start = this.i;
    while (this.peek() >= 0x30 && this.peek() <= 0x39) this.i++;
    return this.i > start;
  }

  number(): Value {
    const start = this.i;
    if (this.peek() == 0x2d) this.i++;
    if (this.peek() == 0x30) this.i++;
    else if (!this.digits()) return this.fail("bad number");
    if (this.peek() == 0x2e) {
      this.i++;
      if (!this.digits()) return this.fail("bad number");
    }
    if (this.peek() == 0x65 || this.peek() == 0x45) {
      this.i++;
      if (this.peek() == 0x2b || this.peek() == 0x2d) this.i++;
      if (!this.digits()) return this.fail("bad number");
    }
    return Value.number(parseFloat(this.s.substring(start, this.i)));
  }

  hex4(): i32 {
    let v = 0;
    for (let k = 0; k < 4; k++) {
      const c = this.peek();
      let d = -1;
      if (c >= 0x30 && c <= 0x39) d = c - 0x30;
      else if (c >= 0x61 && c <= 0x66) d = c - 0x61 + 10;
      else if (c >= 0x41 && c <= 0x46) d = c - 0x41 + 10;
      if (d < 0) {
        this.fail("bad \\u escape");
        return 0;
      }
      v = (v << 4) | d;
      this.i++;
    }
    return v;
  }

  // string reads a string literal; AssemblyScript strings are UTF-16 like JSON's \u escapes.
  string(): string {
    this.i++; // opening quote
    let run = this.i;
    let parts: Array<string> | null = null;
    while (true) {
      const c = this.peek();
      if (c < 0) {
        this.fail("unterminated string");
        return "";
      }
      if (c == 0x22) {
        const tail = this.s.substring(run, this.i);
        this.i++;
        if (parts == null) return tail;
        parts.push(tail);
        return parts.join("");
      }
      if (c < 0x20) {
        this.fail("control character in string");
        return "";
      }
      if (c != 0x5c) {
        this.i++;
        continue;
      }
      if (parts == null) parts = new Array<string>(0);
      parts.push(this.s.substring(run, this.i));
      this.i++;
      const e = this.peek();
      this.i++;
      if (e == 0x22) parts.push('"');
      else if (e == 0x5c) parts.push("\\");
      else if (e == 0x2f) parts.push("/");
      else if (e == 0x62) parts.push("\b");
      else if (e == 0x66) parts.push("\f");
      else if (e == 0x6e) parts.push("\n");
      else if (e == 0x72) parts.push("\r");
      else if (e == 0x74) parts.push("\t");
      else if (e == 0x75) {
        let u = this.hex4();
        if (this.err != "") return "";
        // A lone surrogate becomes U+FFFD, as Go's encoding/json decodes it.
        if (u >= 0xd800 && u < 0xdc00) {
          let lo = -1;
          if (this.s.startsWith("\\u", this.i)) {
            const save = this.i;
            this.i += 2;
            lo = this.hex4();
            if (this.err != "") return "";
            if (lo < 0xdc00 || lo >= 0xe000) {
              this.i = save;
              lo = -1;
            }
          }
          if (lo < 0) parts.push(String.fromCharCode(0xfffd));
          else parts.push(String.fromCharCode(u) + String.fromCharCode(lo));
        } else if (u >= 0xdc00 && u < 0xe000) {
          parts.push(String.fromCharCode(0xfffd));
        } else {
          parts.push(String.fromCharCode(u));
        }
      } else {
        this.fail("bad escape in string");
        return "";
      }
      run = this.i;
    }
  }
}
