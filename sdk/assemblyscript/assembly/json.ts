// A small JSON value type with a parser and a serializer, enough for a
// plugin to read its request and write its response.
//
// Speed note: under the host's call deadline (wazero's
// WithCloseOnContextDone) every loop iteration costs a check of tens of
// nanoseconds, far more than the work in it. So the parser reads the UTF-8
// request in place instead of decoding it to a string first, scans strings
// eight bytes at a time, decodes a string only when the handler reads it,
// and the writer copies parsed strings back out as bytes.

export const enum Kind {
  Null,
  Bool,
  Number,
  String,
  Array,
  Object,
}

const MAX_DEPTH = 128;
const ONES: u64 = 0x0101010101010101;
const HIGHS: u64 = 0x8080808080808080;

// special flags (in each byte's high bit) the bytes of x that are '"', '\\'
// or control characters; the lowest flag is exact.
// @ts-ignore: decorator
@inline function special(x: u64): u64 {
  const q = x ^ (ONES * 0x22);
  const b = x ^ (ONES * 0x5c);
  return (((q - ONES) & ~q) | ((b - ONES) & ~b) | ((x - ONES * 0x20) & ~x)) & HIGHS;
}

// plainEnd returns the first position in [p, end) of a byte that needs
// attention inside a JSON string, or end; plainASCII tells whether the
// bytes before it were all ASCII. Buffers the SDK parses have 8 readable
// bytes past their end (see padding), so the last word is read whole and
// masked.
let plainASCII = true;

function plainEnd(p: usize, end: usize): usize {
  let high: u64 = 0;
  while (true) {
    let x = load<u64>(p);
    let m = special(x);
    const left = end - p;
    if (left < 8) {
      const valid: u64 = (<u64>1 << (<u64>left << 3)) - 1;
      m &= valid;
      x &= valid;
    }
    if (m != 0) {
      const at = <usize>(ctz(m) >> 3);
      high |= x & ((<u64>1 << (<u64>at << 3)) - 1) & HIGHS;
      plainASCII = high == 0;
      return p + at;
    }
    high |= x & HIGHS;
    if (left <= 8) {
      plainASCII = high == 0;
      return end;
    }
    p += 8;
  }
}

// narrow4 packs four UTF-16 units below 0x100 into four bytes.
// @ts-ignore: decorator
@inline function narrow4(x: u64): u32 {
  return <u32>((x & 0xff) | ((x >> 8) & 0xff00) | ((x >> 16) & 0xff0000) | ((x >> 24) & 0xff000000));
}

/**
 * lowerASCII lowercases the ASCII capitals A-Z of s and nothing else (the
 * same in every language, unlike locale-aware lowercasing), four units a
 * time.
 */
export function lowerASCII(s: string): string {
  const n = s.length;
  const out = changetype<string>(__new(<usize>n << 1, idof<string>()));
  const src = changetype<usize>(s);
  const dst = changetype<usize>(out);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const x = load<u64>(src + (<usize>i << 1));
    if ((x & 0xff80ff80ff80ff80) != 0) break; // a non-ASCII unit: finish one by one
    const h = x & 0x007f007f007f007f;
    const upper = ((h + 0x003f003f003f003f) ^ (h + 0x0025002500250025)) & 0x0080008000800080;
    store<u64>(dst + (<usize>i << 1), x | (upper >> 2));
  }
  for (; i < n; i++) {
    const c = load<u16>(src + (<usize>i << 1));
    store<u16>(dst + (<usize>i << 1), c >= 0x41 && c <= 0x5a ? c + 0x20 : c);
  }
  return out;
}

// widen decodes n ASCII bytes at p into a string, four bytes a time.
function widen(p: usize, n: i32): string {
  const out = changetype<string>(__new(<usize>n << 1, idof<string>()));
  const dst = changetype<usize>(out);
  let i = 0;
  while (i + 4 <= n) {
    const x = <u64>load<u32>(p + i);
    store<u64>(dst + (<usize>i << 1), (x & 0xff) | ((x & 0xff00) << 8) | ((x & 0xff0000) << 16) | ((x & 0xff000000) << 24));
    i += 4;
  }
  for (; i < n; i++) store<u16>(dst + (<usize>i << 1), load<u8>(p + i));
  return out;
}

/** Bytes a buffer handed to the parser must have readable past its end. */
export const PADDING: usize = 8;

const NO_ITEMS = new Array<Value>(0);

/**
 * One JSON value. Objects keep members in document order; get returns the
 * last member of a name. A parsed value points into the buffer it was
 * parsed from: use it during the call that parsed it, never later. items
 * of a scalar is shared and empty: build values with the static
 * constructors and set, never by pushing onto a scalar's list.
 */
export class Value {
  kind: Kind = Kind.Null;
  bool: bool = false;
  num: f64 = 0;
  items: Array<Value> = NO_ITEMS;
  // Object member names, as string Values (keyNames[i] names items[i]).
  keyNames: Array<Value> = NO_ITEMS;
  // A string is either raw UTF-8 bytes [ptr, ptr+len) needing no escapes,
  // or the string in text.
  ptr: usize = 0;
  len: i32 = 0;
  ascii: bool = true;
  text: string | null = null;

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
    v.text = s;
    return v;
  }

  static raw(ptr: usize, len: i32, ascii: bool): Value {
    const v = new Value();
    v.kind = Kind.String;
    v.ptr = ptr;
    v.len = len;
    v.ascii = ascii;
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
    v.keyNames = new Array<Value>(0);
    return v;
  }

  /** A string's text ("" for other values), decoded on first use. */
  get str(): string {
    if (this.kind != Kind.String) return "";
    const t = this.text;
    if (t != null) return t;
    const d: string = this.ascii ? widen(this.ptr, this.len) : String.UTF8.decodeUnsafe(this.ptr, <usize>this.len);
    this.text = d;
    return d;
  }

  /** Whether this string value equals s (false for other values). */
  is(s: string): bool {
    if (this.kind != Kind.String) return false;
    const t = this.text;
    if (t != null) return t == s;
    if (!this.ascii) return this.str == s;
    // ASCII bytes: equal lengths and first unit, then four units a time.
    const n = this.len;
    if (n != s.length) return false;
    if (n == 0) return true;
    const src = changetype<usize>(s);
    if (<u32>load<u8>(this.ptr) != <u32>load<u16>(src)) return false;
    let i = 0;
    while (i + 4 <= n) {
      const x = load<u64>(src + (<usize>i << 1));
      if ((x & 0xff00ff00ff00ff00) != 0 || narrow4(x) != load<u32>(this.ptr + i)) return false;
      i += 4;
    }
    for (; i < n; i++) {
      if (<u32>load<u8>(this.ptr + i) != <u32>load<u16>(src + (<usize>i << 1))) return false;
    }
    return true;
  }

  /** Number of members of an object or items of an array. */
  get size(): i32 {
    return this.items.length;
  }

  /** The name of an object's i-th member. */
  key(i: i32): string {
    return this.keyNames[i].str;
  }

  /** Sets key on an object (replacing an existing member) and returns the object, for chaining. */
  set(key: string, value: Value): Value {
    if (this.kind != Kind.Object) return this;
    const i = this.indexOf(key);
    if (i >= 0) {
      this.items[i] = value;
    } else {
      this.keyNames.push(Value.string(key));
      this.items.push(value);
    }
    return this;
  }

  private indexOf(key: string): i32 {
    for (let i = this.keyNames.length - 1; i >= 0; i--) {
      if (this.keyNames[i].is(key)) return i;
    }
    return -1;
  }

  /** The member key of an object, or null. */
  get(key: string): Value | null {
    if (this.kind != Kind.Object) return null;
    const i = this.indexOf(key);
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

  /** The value as JSON text. */
  toJSON(): string {
    const w = new Writer();
    w.value(this);
    const s = String.UTF8.decodeUnsafe(w.ptr, w.len);
    w.release();
    return s;
  }
}

/**
 * Writer builds UTF-8 JSON in an unmanaged heap buffer (heap.alloc), which
 * a hook hands to the host as its response.
 */
export class Writer {
  ptr: usize = 0;
  len: usize = 0;
  cap: usize = 0;

  constructor() {
    this.cap = 256;
    this.ptr = heap.alloc(this.cap);
  }

  release(): void {
    heap.free(this.ptr);
    this.ptr = 0;
    this.len = this.cap = 0;
  }

  reserve(n: usize): void {
    if (this.len + n <= this.cap) return;
    let cap = this.cap << 1;
    if (cap < this.len + n) cap = this.len + n;
    this.ptr = heap.realloc(this.ptr, cap);
    this.cap = cap;
  }

  byte(c: u8): void {
    this.reserve(1);
    store<u8>(this.ptr + this.len, c);
    this.len++;
  }

  bytes(p: usize, n: usize): void {
    this.reserve(n);
    memory.copy(this.ptr + this.len, p, n);
    this.len += n;
  }

  /** Appends an ASCII text known to need no escaping, such as a punctuation run, as bytes. */
  ascii(s: string): void {
    const n = <usize>s.length;
    this.reserve(n + 4);
    const src = changetype<usize>(s);
    const dst = this.ptr + this.len;
    let i: usize = 0;
    for (; i + 4 <= n; i += 4) store<u32>(dst + i, narrow4(load<u64>(src + (i << 1))));
    for (; i < n; i++) store<u8>(dst + i, load<u16>(src + (i << 1)));
    this.len += n;
  }

  /** Appends s as a JSON string literal (UTF-8, escaped). */
  quoted(s: string): void {
    const n = <usize>s.length;
    this.reserve(n + 2);
    store<u8>(this.ptr + this.len, 0x22);
    this.len++;
    const src = changetype<usize>(s);
    let i: usize = 0;
    // Four UTF-16 units a time while they are plain ASCII: no escape, no multi-byte.
    while (i + 4 <= n) {
      const x = load<u64>(src + (i << 1));
      // any unit >= 0x80, or '"', '\\', or < 0x20?
      const q = x ^ 0x0022002200220022;
      const b = x ^ 0x005c005c005c005c;
      const l1: u64 = 0x0001000100010001;
      const h1: u64 = 0x8000800080008000;
      const bad = (x & 0xff80ff80ff80ff80) | ((((q - l1) & ~q) | ((b - l1) & ~b) | ((x - l1 * 0x20) & ~x)) & h1);
      if (bad != 0) break;
      this.reserve(4);
      store<u32>(this.ptr + this.len, narrow4(x));
      this.len += 4;
      i += 4;
    }
    for (; i < n; i++) {
      let c = <u32>load<u16>(src + (i << 1));
      if (c >= 0x20 && c < 0x80 && c != 0x22 && c != 0x5c) {
        this.byte(<u8>c);
      } else if (c == 0x22) {
        this.ascii('\\"');
      } else if (c == 0x5c) {
        this.ascii("\\\\");
      } else if (c == 0x0a) {
        this.ascii("\\n");
      } else if (c == 0x0d) {
        this.ascii("\\r");
      } else if (c == 0x09) {
        this.ascii("\\t");
      } else if (c < 0x20) {
        this.ascii("\\u00");
        this.byte(<u8>HEX.charCodeAt(c >> 4));
        this.byte(<u8>HEX.charCodeAt(c & 15));
      } else {
        // Non-ASCII: UTF-8, pairing surrogates; a lone surrogate becomes U+FFFD.
        if (c >= 0xd800 && c < 0xdc00 && i + 1 < n) {
          const lo = <u32>load<u16>(src + ((i + 1) << 1));
          if (lo >= 0xdc00 && lo < 0xe000) {
            c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
            i++;
          }
        }
        if (c >= 0xd800 && c < 0xe000) c = 0xfffd;
        this.reserve(4);
        const o = this.ptr + this.len;
        if (c < 0x800) {
          store<u8>(o, <u8>(0xc0 | (c >> 6)));
          store<u8>(o + 1, <u8>(0x80 | (c & 0x3f)));
          this.len += 2;
        } else if (c < 0x10000) {
          store<u8>(o, <u8>(0xe0 | (c >> 12)));
          store<u8>(o + 1, <u8>(0x80 | ((c >> 6) & 0x3f)));
          store<u8>(o + 2, <u8>(0x80 | (c & 0x3f)));
          this.len += 3;
        } else {
          store<u8>(o, <u8>(0xf0 | (c >> 18)));
          store<u8>(o + 1, <u8>(0x80 | ((c >> 12) & 0x3f)));
          store<u8>(o + 2, <u8>(0x80 | ((c >> 6) & 0x3f)));
          store<u8>(o + 3, <u8>(0x80 | (c & 0x3f)));
          this.len += 4;
        }
      }
    }
    this.byte(0x22);
  }

  /** Appends a string value: parsed raw bytes are copied as they are (they need no escapes). */
  stringValue(v: Value): void {
    const t = v.text;
    if (t != null) {
      this.quoted(t);
      return;
    }
    this.reserve(<usize>v.len + 2);
    store<u8>(this.ptr + this.len, 0x22);
    memory.copy(this.ptr + this.len + 1, v.ptr, <usize>v.len);
    this.len += <usize>v.len + 1;
    store<u8>(this.ptr + this.len, 0x22);
    this.len++;
  }

  value(v: Value): void {
    switch (v.kind) {
      case Kind.Null:
        this.ascii("null");
        break;
      case Kind.Bool:
        this.ascii(v.bool ? "true" : "false");
        break;
      case Kind.Number:
        this.ascii(formatNumber(v.num));
        break;
      case Kind.String:
        this.stringValue(v);
        break;
      case Kind.Array:
        this.byte(0x5b);
        for (let i = 0; i < v.items.length; i++) {
          if (i > 0) this.byte(0x2c);
          this.value(v.items[i]);
        }
        this.byte(0x5d);
        break;
      case Kind.Object:
        this.byte(0x7b);
        for (let i = 0; i < v.items.length; i++) {
          if (i > 0) this.byte(0x2c);
          this.stringValue(v.keyNames[i]);
          this.byte(0x3a);
          this.value(v.items[i]);
        }
        this.byte(0x7d);
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
  const w = new Writer();
  w.quoted(s);
  const out = String.UTF8.decodeUnsafe(w.ptr, w.len);
  w.release();
  return out;
}

/** The outcome of parse: a value, or the reason it failed (error is "" on success). */
export class Parsed {
  value: Value = new Value();
  error: string = "";
}

/**
 * parseBytes reads the JSON document in [ptr, ptr+len), which must have
 * PADDING readable bytes after it and must outlive the values (they point
 * into it). AssemblyScript has no exceptions: failure is in Parsed.error.
 */
export function parseBytes(ptr: usize, len: usize): Parsed {
  const p = new Parser(ptr, ptr + len);
  const out = new Parsed();
  const v = p.value(0);
  p.ws();
  if (p.err == "" && p.p != p.end) p.fail("trailing data");
  if (p.err != "") {
    out.error = "invalid JSON at offset " + (p.p - ptr).toString() + ": " + p.err;
  } else {
    out.value = v;
  }
  return out;
}

// Buffers behind parse(text): kept reachable while their values are in use.
const parsedBuffers = new Array<ArrayBuffer>(0);

/** parse reads one JSON document from a string (for example a kvGet value); its values live until the call returns. */
export function parse(text: string): Parsed {
  const n = String.UTF8.byteLength(text);
  const buf = new ArrayBuffer(n + <i32>PADDING);
  String.UTF8.encodeUnsafe(changetype<usize>(text), text.length, changetype<usize>(buf));
  parsedBuffers.push(buf);
  return parseBytes(changetype<usize>(buf), <usize>n);
}

/** releaseParsed drops the buffers behind parse's values; the SDK calls it after every call. */
export function releaseParsed(): void {
  if (parsedBuffers.length > 0) parsedBuffers.length = 0;
}

class Parser {
  p: usize;
  end: usize;
  err: string = "";

  constructor(p: usize, end: usize) {
    this.p = p;
    this.end = end;
  }

  fail(reason: string): Value {
    if (this.err == "") this.err = reason;
    return new Value();
  }

  peek(): i32 {
    return this.p < this.end ? <i32>load<u8>(this.p) : -1;
  }

  ws(): void {
    // The host's requests have no whitespace: look once before looping.
    let c = this.peek();
    if (c != 0x20 && c != 0x09 && c != 0x0a && c != 0x0d) return;
    do {
      this.p++;
      c = this.peek();
    } while (c == 0x20 || c == 0x09 || c == 0x0a || c == 0x0d);
  }

  value(depth: i32): Value {
    if (depth > MAX_DEPTH) return this.fail("nesting too deep");
    this.ws();
    const c = this.peek();
    if (c < 0) return this.fail("unexpected end of input");
    if (c == 0x7b /* { */) {
      this.p++;
      const obj = Value.object();
      this.ws();
      if (this.peek() == 0x7d) {
        this.p++;
        return obj;
      }
      while (true) {
        this.ws();
        if (this.peek() != 0x22) return this.fail("expected object key");
        const key = this.string();
        if (this.err != "") return obj;
        this.ws();
        if (this.peek() != 0x3a) return this.fail("expected ':'");
        this.p++;
        const v = this.value(depth + 1);
        if (this.err != "") return obj;
        obj.keyNames.push(key);
        obj.items.push(v);
        this.ws();
        const d = this.peek();
        if (d == 0x2c) {
          this.p++;
          continue;
        }
        if (d == 0x7d) {
          this.p++;
          return obj;
        }
        return this.fail("expected ',' or '}'");
      }
    }
    if (c == 0x5b /* [ */) {
      this.p++;
      const arr = Value.array(new Array<Value>(0));
      this.ws();
      if (this.peek() == 0x5d) {
        this.p++;
        return arr;
      }
      while (true) {
        const v = this.value(depth + 1);
        if (this.err != "") return arr;
        arr.items.push(v);
        this.ws();
        const d = this.peek();
        if (d == 0x2c) {
          this.p++;
          continue;
        }
        if (d == 0x5d) {
          this.p++;
          return arr;
        }
        return this.fail("expected ',' or ']'");
      }
    }
    if (c == 0x22) return this.string();
    if (c == 0x74) return this.literal(0x65757274, 4, Value.bool(true)); // "true"
    if (c == 0x66) return this.literal(0x736c6166, 5, Value.bool(false)); // "fals" + e
    if (c == 0x6e) return this.literal(0x6c6c756e, 4, Value.null()); // "null"
    return this.number();
  }

  // literal matches true/false/null by their first four bytes (little-endian word) and, for false, the 'e'.
  literal(word: u32, n: usize, v: Value): Value {
    if (this.end - this.p >= n && load<u32>(this.p) == word && (n == 4 || load<u8>(this.p + 4) == 0x65)) {
      this.p += n;
      return v;
    }
    return this.fail("unexpected character");
  }

  digits(): bool {
    const start = this.p;
    let c = this.peek();
    if (c < 0x30 || c > 0x39) return false;
    do {
      this.p++;
      c = this.peek();
    } while (c >= 0x30 && c <= 0x39);
    return this.p > start;
  }

  number(): Value {
    const start = this.p;
    let simple = true;
    if (this.peek() == 0x2d) this.p++;
    if (this.peek() == 0x30) this.p++;
    else if (!this.digits()) return this.fail("bad number");
    if (this.peek() == 0x2e) {
      simple = false;
      this.p++;
      if (!this.digits()) return this.fail("bad number");
    }
    if (this.peek() == 0x65 || this.peek() == 0x45) {
      simple = false;
      this.p++;
      if (this.peek() == 0x2b || this.peek() == 0x2d) this.p++;
      if (!this.digits()) return this.fail("bad number");
    }
    if (simple && this.p - start <= 15) {
      // a small integer, the common case, without building a string
      const neg = load<u8>(start) == 0x2d;
      let n: i64 = 0;
      for (let q = neg ? start + 1 : start; q < this.p; q++) n = n * 10 + <i64>(load<u8>(q) - 0x30);
      return Value.number(<f64>(neg ? -n : n));
    }
    return Value.number(parseFloat(String.UTF8.decodeUnsafe(start, this.p - start)));
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
      this.p++;
    }
    return v;
  }

  // string reads a string literal: without escapes (the common case) as a
  // raw byte range, decoded only if read; with escapes decoded now.
  string(): Value {
    const start = this.p + 1;
    let p = plainEnd(start, this.end);
    if (p < this.end && load<u8>(p) == 0x22) {
      this.p = p + 1;
      return Value.raw(start, <i32>(p - start), plainASCII);
    }
    const parts = new Array<string>(0);
    let run = start;
    while (true) {
      if (p >= this.end) {
        this.p = p;
        this.fail("unterminated string");
        return new Value();
      }
      const c = load<u8>(p);
      if (c == 0x22) {
        parts.push(String.UTF8.decodeUnsafe(run, p - run));
        this.p = p + 1;
        return Value.string(parts.join(""));
      }
      if (c < 0x20) {
        this.p = p;
        this.fail("control character in string");
        return new Value();
      }
      // a backslash
      parts.push(String.UTF8.decodeUnsafe(run, p - run));
      this.p = p + 2;
      const e = p + 1 < this.end ? load<u8>(p + 1) : 0;
      if (e == 0x22) parts.push('"');
      else if (e == 0x5c) parts.push("\\");
      else if (e == 0x2f) parts.push("/");
      else if (e == 0x62) parts.push("\b");
      else if (e == 0x66) parts.push("\f");
      else if (e == 0x6e) parts.push("\n");
      else if (e == 0x72) parts.push("\r");
      else if (e == 0x74) parts.push("\t");
      else if (e == 0x75) {
        const u = this.hex4();
        if (this.err != "") return new Value();
        // A lone surrogate becomes U+FFFD, as Go's encoding/json decodes it.
        if (u >= 0xd800 && u < 0xdc00) {
          let lo = -1;
          if (this.end - this.p >= 2 && load<u8>(this.p) == 0x5c && load<u8>(this.p + 1) == 0x75) {
            const save = this.p;
            this.p += 2;
            lo = this.hex4();
            if (this.err != "") return new Value();
            if (lo < 0xdc00 || lo >= 0xe000) {
              this.p = save;
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
        return new Value();
      }
      run = this.p;
      p = plainEnd(run, this.end);
    }
  }
}
