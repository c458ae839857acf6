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

// ---- the tape ----
//
// A parse writes one 16-byte node per JSON value into the tape, an
// unmanaged buffer reused from call to call, and allocates nothing the
// collector must sweep; Value objects are made only for what the handler
// reads. Node: kind | flags, a, b, next (the node after this value's
// subtree). Strings: a = pointer, b = byte length of raw bytes needing no
// escapes (flag ASCII when they are all ASCII), or a = index into
// escapedTexts (flag ESCAPED). Numbers: a, b = their text. Booleans: a.
// Containers: a = member or item count; an object's members are key node,
// value subtree, key node, ...

const NODE: usize = 16;
const F_ASCII: u32 = 0x10;
const F_ESCAPED: u32 = 0x20;

let tape: usize = 0;
let tapeCap: i32 = 0;
let tapeLen: i32 = 0;
// Strings with escapes, decoded while parsing; dropped when the call ends.
const escapedTexts = new Array<string>(0);

// @ts-ignore: decorator
@inline function nodeAt(i: i32): usize {
  return tape + (<usize>i << 4);
}

// @ts-ignore: decorator
@inline function nodeKind(i: i32): Kind {
  return <Kind>(load<u32>(nodeAt(i)) & 0xf);
}

// @ts-ignore: decorator
@inline function nodeNext(i: i32): i32 {
  return <i32>load<u32>(nodeAt(i), 12);
}

function newNode(kind: Kind, flags: u32, a: u32, b: u32): i32 {
  if (tapeLen == tapeCap) {
    const cap = tapeCap < 64 ? 64 : tapeCap << 1;
    tape = tape == 0 ? heap.alloc(<usize>cap << 4) : heap.realloc(tape, <usize>cap << 4);
    tapeCap = cap;
  }
  const i = tapeLen++;
  const p = nodeAt(i);
  store<u32>(p, <u32>kind | flags);
  store<u32>(p, a, 4);
  store<u32>(p, b, 8);
  store<u32>(p, <u32>(i + 1), 12);
  return i;
}

/** releaseParsed forgets every parsed value; the SDK calls it after every call. */
export function releaseParsed(): void {
  tapeLen = 0;
  if (escapedTexts.length > 0) escapedTexts.length = 0;
  if (parsedBuffers.length > 0) parsedBuffers.length = 0;
}

// numberValue reads a number's text: small integers exactly without building a string.
function numberValue(p: usize, n: usize): f64 {
  let simple = n <= 15;
  const neg = load<u8>(p) == 0x2d;
  let v: i64 = 0;
  if (simple) {
    for (let q = neg ? p + 1 : p; q < p + n; q++) {
      const c = <i32>load<u8>(q);
      if (c < 0x30 || c > 0x39) {
        simple = false;
        break;
      }
      v = v * 10 + <i64>(c - 0x30);
    }
  }
  if (simple) return <f64>(neg ? -v : v);
  return parseFloat(String.UTF8.decodeUnsafe(p, n));
}

const NO_ITEMS = new Array<Value>(0);

/**
 * One JSON value. A parsed value is a view of the parse (valid until the
 * call returns: never keep one in a global); a built value (Value.string,
 * Value.object().set(..), ...) holds its own data. Objects keep members in
 * document order; get returns the last member of a name.
 */
export class Value {
  kind: Kind = Kind.Null;
  // The tape node of a parsed value, or -1.
  node: i32 = -1;
  private b: bool = false;
  private n: f64 = 0;
  private text: string | null = null;
  private list: Array<Value> = NO_ITEMS; // built arrays' items, built objects' values
  private names: Array<string> = NO_STRINGS; // built objects' keys

  static null(): Value {
    return new Value();
  }

  static bool(b: bool): Value {
    const v = new Value();
    v.kind = Kind.Bool;
    v.b = b;
    return v;
  }

  static number(n: f64): Value {
    const v = new Value();
    v.kind = Kind.Number;
    v.n = n;
    return v;
  }

  static string(s: string): Value {
    const v = new Value();
    v.kind = Kind.String;
    v.text = s;
    return v;
  }

  static array(items: Array<Value>): Value {
    const v = new Value();
    v.kind = Kind.Array;
    v.list = items;
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
    v.list = new Array<Value>(0);
    v.names = new Array<string>(0);
    return v;
  }

  static fromNode(i: i32): Value {
    const v = new Value();
    v.kind = nodeKind(i);
    v.node = i;
    return v;
  }

  get bool(): bool {
    if (this.node < 0) return this.b;
    return this.kind == Kind.Bool && load<u32>(nodeAt(this.node), 4) != 0;
  }

  get num(): f64 {
    if (this.node < 0 || this.kind != Kind.Number) return this.n;
    const p = nodeAt(this.node);
    return numberValue(<usize>load<u32>(p, 4), <usize>load<u32>(p, 8));
  }

  /** A string's text ("" for other values), decoded on first use. */
  get str(): string {
    if (this.kind != Kind.String) return "";
    const t = this.text;
    if (t != null) return t;
    const p = nodeAt(this.node);
    const flags = load<u32>(p);
    let d: string;
    if (flags & F_ESCAPED) d = escapedTexts[<i32>load<u32>(p, 4)];
    else if (flags & F_ASCII) d = widen(<usize>load<u32>(p, 4), <i32>load<u32>(p, 8));
    else d = String.UTF8.decodeUnsafe(<usize>load<u32>(p, 4), <usize>load<u32>(p, 8));
    this.text = d;
    return d;
  }

  /** Whether this string value equals s (false for other values). */
  is(s: string): bool {
    if (this.kind != Kind.String) return false;
    const t = this.text;
    if (t != null) return t == s;
    return nodeIs(this.node, s);
  }

  /** Number of members of an object or items of an array (0 for other values). */
  get size(): i32 {
    if (this.node < 0) return this.list.length;
    if (this.kind != Kind.Array && this.kind != Kind.Object) return 0;
    return <i32>load<u32>(nodeAt(this.node), 4);
  }

  /** The i-th item of an array, or the value of the i-th member of an object. */
  at(i: i32): Value {
    if (this.node < 0) return this.list[i];
    if (i < 0 || i >= this.size) throw new RangeError("index out of range");
    let j = this.node + 1;
    const object = this.kind == Kind.Object;
    for (let k = 0; k < i; k++) j = nodeNext(object ? j + 1 : j);
    return Value.fromNode(object ? j + 1 : j);
  }

  /** The name of an object's i-th member. */
  key(i: i32): string {
    if (this.node < 0) return this.names[i];
    if (i < 0 || i >= this.size) throw new RangeError("index out of range");
    let j = this.node + 1;
    for (let k = 0; k < i; k++) j = nodeNext(j + 1);
    return Value.fromNode(j).str;
  }

  /** An array's items (or an object's values) as a new array. */
  get items(): Array<Value> {
    if (this.node < 0) return this.list;
    const n = this.size;
    const out = new Array<Value>(n);
    for (let i = 0, j = this.node + 1; i < n; i++) {
      const v = this.kind == Kind.Object ? j + 1 : j;
      out[i] = Value.fromNode(v);
      j = nodeNext(v);
    }
    return out;
  }

  /** Sets key on a built object (replacing an existing member) and returns it, for chaining. */
  set(key: string, value: Value): Value {
    if (this.kind != Kind.Object || this.node >= 0) return this;
    for (let i = this.names.length - 1; i >= 0; i--) {
      if (this.names[i] == key) {
        this.list[i] = value;
        return this;
      }
    }
    this.names.push(key);
    this.list.push(value);
    return this;
  }

  /** The member key of an object, or null. */
  get(key: string): Value | null {
    if (this.kind != Kind.Object) return null;
    if (this.node < 0) {
      for (let i = this.names.length - 1; i >= 0; i--) {
        if (this.names[i] == key) return this.list[i];
      }
      return null;
    }
    // Walk the members; the last of a name wins, as in Go's encoding/json.
    let found = -1;
    const n = <i32>load<u32>(nodeAt(this.node), 4);
    for (let i = 0, j = this.node + 1; i < n; i++) {
      if (nodeIs(j, key)) found = j + 1;
      j = nodeNext(j + 1);
    }
    return found < 0 ? null : Value.fromNode(found);
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

  // For the writer: a built value's parts.
  builtText(): string | null {
    return this.text;
  }

  builtList(): Array<Value> {
    return this.list;
  }

  builtNames(): Array<string> {
    return this.names;
  }

  builtBool(): bool {
    return this.b;
  }

  builtNum(): f64 {
    return this.n;
  }
}

const NO_STRINGS = new Array<string>(0);

// nodeIs: whether string node i equals s.
function nodeIs(i: i32, s: string): bool {
  const p = nodeAt(i);
  const flags = load<u32>(p);
  if (<Kind>(flags & 0xf) != Kind.String) return false;
  if (flags & F_ESCAPED) return escapedTexts[<i32>load<u32>(p, 4)] == s;
  const ptr = <usize>load<u32>(p, 4);
  const n = <i32>load<u32>(p, 8);
  if (!(flags & F_ASCII)) return String.UTF8.decodeUnsafe(ptr, <usize>n) == s;
  // ASCII bytes: equal lengths and first unit, then four units a time.
  if (n != s.length) return false;
  if (n == 0) return true;
  const src = changetype<usize>(s);
  if (<u32>load<u8>(ptr) != <u32>load<u16>(src)) return false;
  let k = 0;
  while (k + 4 <= n) {
    const x = load<u64>(src + (<usize>k << 1));
    if ((x & 0xff00ff00ff00ff00) != 0 || narrow4(x) != load<u32>(ptr + k)) return false;
    k += 4;
  }
  for (; k < n; k++) {
    if (<u32>load<u8>(ptr + k) != <u32>load<u16>(src + (<usize>k << 1))) return false;
  }
  return true;
}

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


  // node writes the parsed subtree at node i; returns the node after it.
  node(i: i32): i32 {
    const p = nodeAt(i);
    const flags = load<u32>(p);
    const a = load<u32>(p, 4);
    const b = load<u32>(p, 8);
    switch (<Kind>(flags & 0xf)) {
      case Kind.Null:
        this.ascii("null");
        return i + 1;
      case Kind.Bool:
        this.ascii(a != 0 ? "true" : "false");
        return i + 1;
      case Kind.Number:
        this.bytes(<usize>a, <usize>b);
        return i + 1;
      case Kind.String:
        if (flags & F_ESCAPED) {
          this.quoted(escapedTexts[<i32>a]);
        } else {
          this.reserve(<usize>b + 2);
          store<u8>(this.ptr + this.len, 0x22);
          memory.copy(this.ptr + this.len + 1, <usize>a, <usize>b);
          this.len += <usize>b + 1;
          store<u8>(this.ptr + this.len, 0x22);
          this.len++;
        }
        return i + 1;
      case Kind.Array: {
        this.byte(0x5b);
        let j = i + 1;
        for (let k: u32 = 0; k < a; k++) {
          if (k > 0) this.byte(0x2c);
          j = this.node(j);
        }
        this.byte(0x5d);
        return j;
      }
      default: {
        this.byte(0x7b);
        let j = i + 1;
        for (let k: u32 = 0; k < a; k++) {
          if (k > 0) this.byte(0x2c);
          j = this.node(j);
          this.byte(0x3a);
          j = this.node(j);
        }
        this.byte(0x7d);
        return j;
      }
    }
  }

  value(v: Value): void {
    if (v.node >= 0) {
      this.node(v.node);
      return;
    }
    switch (v.kind) {
      case Kind.Null:
        this.ascii("null");
        break;
      case Kind.Bool:
        this.ascii(v.builtBool() ? "true" : "false");
        break;
      case Kind.Number:
        this.ascii(formatNumber(v.builtNum()));
        break;
      case Kind.String: {
        const t = v.builtText();
        this.quoted(t != null ? t : "");
        break;
      }
      case Kind.Array: {
        const items = v.builtList();
        this.byte(0x5b);
        for (let i = 0; i < items.length; i++) {
          if (i > 0) this.byte(0x2c);
          this.value(items[i]);
        }
        this.byte(0x5d);
        break;
      }
      case Kind.Object: {
        const items = v.builtList();
        const names = v.builtNames();
        this.byte(0x7b);
        for (let i = 0; i < items.length; i++) {
          if (i > 0) this.byte(0x2c);
          this.quoted(names[i]);
          this.byte(0x3a);
          this.value(items[i]);
        }
        this.byte(0x7d);
        break;
      }
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
 * into it), until the call returns. AssemblyScript has no exceptions:
 * failure is in Parsed.error.
 */
export function parseBytes(ptr: usize, len: usize): Parsed {
  const out = new Parsed();
  const mark = tapeLen;
  const p = new Parser(ptr, ptr + len);
  const root = p.value(0);
  p.ws();
  if (p.err == "" && p.p != p.end) p.fail("trailing data");
  if (p.err != "") {
    tapeLen = mark;
    out.error = "invalid JSON at offset " + (p.p - ptr).toString() + ": " + p.err;
  } else {
    out.value = Value.fromNode(root);
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

class Parser {
  p: usize;
  end: usize;
  err: string = "";

  constructor(p: usize, end: usize) {
    this.p = p;
    this.end = end;
  }

  fail(reason: string): i32 {
    if (this.err == "") this.err = reason;
    return -1;
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

  // value parses one value into the tape and returns its node, or -1 (err set).
  value(depth: i32): i32 {
    if (depth > MAX_DEPTH) return this.fail("nesting too deep");
    this.ws();
    const c = this.peek();
    if (c < 0) return this.fail("unexpected end of input");
    if (c == 0x7b /* { */ || c == 0x5b /* [ */) {
      const object = c == 0x7b;
      const close = object ? 0x7d : 0x5d;
      const node = newNode(object ? Kind.Object : Kind.Array, 0, 0, 0);
      let count: u32 = 0;
      this.p++;
      this.ws();
      if (this.peek() == close) {
        this.p++;
      } else {
        while (true) {
          if (object) {
            this.ws();
            if (this.peek() != 0x22) return this.fail("expected object key");
            if (this.string() < 0) return -1;
            this.ws();
            if (this.peek() != 0x3a) return this.fail("expected ':'");
            this.p++;
          }
          if (this.value(depth + 1) < 0) return -1;
          count++;
          this.ws();
          const d = this.peek();
          if (d == 0x2c) {
            this.p++;
            continue;
          }
          if (d == close) {
            this.p++;
            break;
          }
          return this.fail(object ? "expected ',' or '}'" : "expected ',' or ']'");
        }
      }
      const p = nodeAt(node);
      store<u32>(p, count, 4);
      store<u32>(p, <u32>tapeLen, 12);
      return node;
    }
    if (c == 0x22) return this.string();
    if (c == 0x74) return this.literal(0x65757274, 4, Kind.Bool, 1); // "true"
    if (c == 0x66) return this.literal(0x736c6166, 5, Kind.Bool, 0); // "fals" + e
    if (c == 0x6e) return this.literal(0x6c6c756e, 4, Kind.Null, 0); // "null"
    return this.number();
  }

  // literal matches true/false/null by their first four bytes (little-endian word) and, for false, the 'e'.
  literal(word: u32, n: usize, kind: Kind, a: u32): i32 {
    if (this.end - this.p >= n && load<u32>(this.p) == word && (n == 4 || load<u8>(this.p + 4) == 0x65)) {
      this.p += n;
      return newNode(kind, 0, a, 0);
    }
    return this.fail("unexpected character");
  }

  digits(): bool {
    let c = this.peek();
    if (c < 0x30 || c > 0x39) return false;
    do {
      this.p++;
      c = this.peek();
    } while (c >= 0x30 && c <= 0x39);
    return true;
  }

  number(): i32 {
    const start = this.p;
    if (this.peek() == 0x2d) this.p++;
    if (this.peek() == 0x30) this.p++;
    else if (!this.digits()) return this.fail("bad number");
    if (this.peek() == 0x2e) {
      this.p++;
      if (!this.digits()) return this.fail("bad number");
    }
    if (this.peek() == 0x65 || this.peek() == 0x45) {
      this.p++;
      if (this.peek() == 0x2b || this.peek() == 0x2d) this.p++;
      if (!this.digits()) return this.fail("bad number");
    }
    return newNode(Kind.Number, 0, <u32>start, <u32>(this.p - start));
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

  // string reads a string literal into a node: without escapes (the common
  // case) as a raw byte range, with escapes decoded now.
  string(): i32 {
    const start = this.p + 1;
    let p = plainEnd(start, this.end);
    if (p < this.end && load<u8>(p) == 0x22) {
      this.p = p + 1;
      return newNode(Kind.String, plainASCII ? F_ASCII : 0, <u32>start, <u32>(p - start));
    }
    const parts = new Array<string>(0);
    let run = start;
    while (true) {
      if (p >= this.end) {
        this.p = p;
        return this.fail("unterminated string");
      }
      const c = load<u8>(p);
      if (c == 0x22) {
        parts.push(String.UTF8.decodeUnsafe(run, p - run));
        this.p = p + 1;
        escapedTexts.push(parts.join(""));
        return newNode(Kind.String, F_ESCAPED, <u32>(escapedTexts.length - 1), 0);
      }
      if (c < 0x20) {
        this.p = p;
        return this.fail("control character in string");
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
        if (this.err != "") return -1;
        // A lone surrogate becomes U+FFFD, as Go's encoding/json decodes it.
        if (u >= 0xd800 && u < 0xdc00) {
          let lo = -1;
          if (this.end - this.p >= 2 && load<u8>(this.p) == 0x5c && load<u8>(this.p + 1) == 0x75) {
            const save = this.p;
            this.p += 2;
            lo = this.hex4();
            if (this.err != "") return -1;
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
        return this.fail("bad escape in string");
      }
      run = this.p;
      p = plainEnd(run, this.end);
    }
  }
}
