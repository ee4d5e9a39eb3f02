/**
 * A pickle reader for the data that state dicts and training checkpoints hold: it builds plain
 * values (null, booleans, numbers, bigints, strings, bytes, arrays for lists and tuples, Maps
 * for dicts) and never calls anything from the file. A global (a class or function named by the
 * pickle) becomes a `PyGlobal`; calling it (REDUCE / NEWOBJ) runs one of the few pure functions
 * the caller supplies in `callables` (the tensor rebuild functions), and otherwise yields an inert
 * `PyObject` placeholder that records the name, the arguments and any state.
 */
export class PickleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PickleError';
  }
}

/** A class or function the pickle refers to by `module.name`; never imported or executed. */
export class PyGlobal {
  constructor(readonly module: string, readonly name: string) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}

/** An instance of a class we do not know (e.g. fvcore's CfgNode): its recorded pieces only. */
export class PyObject {
  state: unknown = undefined;
  /** Dict-subclass items (SETITEMS on the object). */
  readonly items = new Map<unknown, unknown>();
  /** List-subclass items (APPENDS on the object). */
  readonly list: unknown[] = [];
  constructor(readonly cls: string, readonly args: unknown[]) {}
}

export type PyCallable = (args: unknown[]) => unknown;

export interface UnpickleOptions {
  /** Resolves a persistent id (torch: ('storage', type, key, location, numel)). */
  persistentLoad?: (pid: unknown) => unknown;
  /** Pure implementations for specific globals, by 'module.name'. */
  callables?: Record<string, PyCallable>;
}

/** Globals whose meaning is plain data, shared by any pickle. */
const BUILTIN_CALLABLES: Record<string, PyCallable> = {
  'collections.OrderedDict': (args) => dictFrom(args[0]),
  'builtins.dict': (args) => dictFrom(args[0]),
  '__builtin__.dict': (args) => dictFrom(args[0]),
  'builtins.list': (args) => (args[0] === undefined ? [] : [...asArray(args[0], 'list()')]),
  'builtins.set': (args) => (args[0] === undefined ? [] : [...asArray(args[0], 'set()')]),
  'builtins.frozenset': (args) => (args[0] === undefined ? [] : [...asArray(args[0], 'frozenset()')]),
  'builtins.tuple': (args) => (args[0] === undefined ? [] : [...asArray(args[0], 'tuple()')]),
};

function asArray(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v)) throw new PickleError(`${what} expects a list or tuple argument`);
  return v;
}

function dictFrom(v: unknown): Map<unknown, unknown> {
  const m = new Map<unknown, unknown>();
  if (v === undefined) return m;
  if (v instanceof Map) return new Map(v);
  for (const pair of asArray(v, 'dict()')) {
    if (!Array.isArray(pair) || pair.length !== 2) throw new PickleError('dict() expects (key, value) pairs');
    m.set(pair[0], pair[1]);
  }
  return m;
}


/** Parse one pickle (protocols 0-5, the binary opcodes plus the few text ones torch can emit). */
export function unpickle(bytes: Uint8Array, opts: UnpickleOptions = {}): unknown {
  const callables = { ...BUILTIN_CALLABLES, ...(opts.callables ?? {}) };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  let p = 0;

  const fail = (msg: string, at = p): never => {
    throw new PickleError(`malformed pickle at byte ${at}: ${msg}`);
  };
  const need = (n: number): void => {
    if (p + n > bytes.length) fail(`truncated (needs ${n} more bytes, ${bytes.length - p} left)`);
  };
  const u8 = (): number => {
    need(1);
    return bytes[p++];
  };
  const u16 = (): number => {
    need(2);
    const v = view.getUint16(p, true);
    p += 2;
    return v;
  };
  const u32 = (): number => {
    need(4);
    const v = view.getUint32(p, true);
    p += 4;
    return v;
  };
  const u64 = (): number => {
    need(8);
    const v = view.getBigUint64(p, true);
    p += 8;
    if (v > BigInt(bytes.length)) fail(`length ${v} exceeds the pickle size`);
    return Number(v);
  };
  const take = (n: number): Uint8Array => {
    need(n);
    const out = bytes.subarray(p, p + n);
    p += n;
    return out;
  };
  const utf8 = (n: number): string => Buffer.from(take(n)).toString('utf8');
  const line = (): string => {
    const end = bytes.indexOf(0x0a, p);
    if (end < 0) fail('unterminated text line');
    const s = Buffer.from(bytes.subarray(p, end)).toString('latin1');
    p = end + 1;
    return s;
  };
  const pop = (): unknown => {
    if (stack.length === 0 || (marks.length > 0 && stack.length <= marks[marks.length - 1])) fail('stack underflow');
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0) fail('stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const m = marks.pop();
    if (m === undefined) fail('no MARK to pop to');
    return stack.splice(m!);
  };
  const memoGet = (i: number): unknown => {
    if (!memo.has(i)) fail(`memo key ${i} is not defined`);
    return memo.get(i);
  };
  const memoPut = (i: number): void => {
    memo.set(i, top());
  };
  const call = (fn: unknown, args: unknown, op: string): unknown => {
    if (!Array.isArray(args)) fail(`${op} expects an argument tuple`);
    if (!(fn instanceof PyGlobal)) fail(`${op} on something that is not a global (${describe(fn)})`);
    const g = fn as PyGlobal;
    const impl = callables[g.qualified];
    return impl ? impl(args as unknown[]) : new PyObject(g.qualified, args as unknown[]);
  };
  const setItems = (target: unknown, kv: unknown[]): void => {
    if (kv.length % 2) fail('SETITEMS with an odd number of values');
    const m = target instanceof Map ? target : target instanceof PyObject ? target.items : fail(`SETITEM on ${describe(target)}`);
    for (let i = 0; i < kv.length; i += 2) (m as Map<unknown, unknown>).set(kv[i], kv[i + 1]);
  };
  const appendItems = (target: unknown, items: unknown[]): void => {
    if (Array.isArray(target)) target.push(...items);
    else if (target instanceof PyObject) target.list.push(...items);
    else fail(`APPEND on ${describe(target)}`);
  };

  for (;;) {
    const at = p;
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) fail('unsupported pickle protocol', at);
        break;
      case 0x95: // FRAME: a length prefix only
        u64();
        break;
      case 0x2e: // STOP
        if (stack.length !== 1 || marks.length) fail(`STOP with ${stack.length} values on the stack`, at);
        return stack[0];
      case 0x28: // MARK
        marks.push(stack.length);
        break;
      case 0x30: // POP
        if (marks.length && marks[marks.length - 1] === stack.length) marks.pop();
        else pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4a: // BININT
        need(4);
        stack.push(view.getInt32(p, true));
        p += 4;
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x8a: // LONG1
        stack.push(longFrom(take(u8())));
        break;
      case 0x8b: // LONG4
        stack.push(longFrom(take(u32())));
        break;
      case 0x49: { // INT (text; '01'/'00' are booleans)
        const s = line().trim();
        if (s === '01' || s === '00') stack.push(s === '01');
        else stack.push(parseIntText(s, fail));
        break;
      }
      case 0x4c: // LONG (text)
        stack.push(parseIntText(line().trim().replace(/L$/, ''), fail));
        break;
      case 0x47: // BINFLOAT (big-endian)
        need(8);
        stack.push(view.getFloat64(p, false));
        p += 8;
        break;
      case 0x46: { // FLOAT (text)
        const v = Number(line().trim());
        if (Number.isNaN(v)) fail('bad FLOAT', at);
        stack.push(v);
        break;
      }
      case 0x58: // BINUNICODE
        stack.push(utf8(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(utf8(u8()));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(utf8(u64()));
        break;
      case 0x54: // BINSTRING (py2 str)
        need(4);
        stack.push(Buffer.from(take(u32())).toString('latin1'));
        break;
      case 0x55: // SHORT_BINSTRING
        stack.push(Buffer.from(take(u8())).toString('latin1'));
        break;
      case 0x42: // BINBYTES
        stack.push(Uint8Array.from(take(u32())));
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(Uint8Array.from(take(u8())));
        break;
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8
        stack.push(Uint8Array.from(take(u64())));
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push([]);
        break;
      case 0x74: // TUPLE
        stack.push(popMark());
        break;
      case 0x85: // TUPLE1
        stack.push([pop()]);
        break;
      case 0x86: { // TUPLE2
        const b = pop();
        stack.push([pop(), b]);
        break;
      }
      case 0x87: { // TUPLE3
        const c = pop();
        const b = pop();
        stack.push([pop(), b, c]);
        break;
      }
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x61: { // APPEND
        const v = pop();
        appendItems(top(), [v]);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x64: { // DICT
        const kv = popMark();
        const m = new Map();
        setItems(m, kv);
        stack.push(m);
        break;
      }
      case 0x73: { // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: { // SETITEMS
        const kv = popMark();
        setItems(top(), kv);
        break;
      }
      case 0x8f: // EMPTY_SET
        stack.push([]);
        break;
      case 0x90: { // ADDITEMS
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case 0x91: // FROZENSET
        stack.push(popMark());
        break;
      case 0x63: { // GLOBAL: "module\nname\n"
        const module = line();
        stack.push(new PyGlobal(module, line()));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings', at);
        stack.push(new PyGlobal(module as string, name as string));
        break;
      }
      case 0x52: { // REDUCE
        const args = pop();
        const fn = pop();
        stack.push(call(fn, args, 'REDUCE'));
        break;
      }
      case 0x81: { // NEWOBJ
        const args = pop();
        const cls = pop();
        stack.push(call(cls, args, 'NEWOBJ'));
        break;
      }
      case 0x92: { // NEWOBJ_EX
        const kwargs = pop();
        const args = pop();
        const cls = pop();
        const obj = call(cls, args, 'NEWOBJ_EX');
        if (obj instanceof PyObject) obj.state = kwargs;
        stack.push(obj);
        break;
      }
      case 0x62: { // BUILD
        const state = pop();
        const obj = top();
        if (obj instanceof PyObject) obj.state = state;
        // A state on a dict (OrderedDict's attributes such as a state dict's _metadata) or on a
        // tensor carries nothing we use.
        else if (!(obj instanceof Map) && !(typeof obj === 'object' && obj !== null)) fail(`BUILD on ${describe(obj)}`, at);
        break;
      }
      case 0x51: { // BINPERSID
        const pid = pop();
        if (!opts.persistentLoad) fail('persistent id without a loader', at);
        stack.push(opts.persistentLoad!(pid));
        break;
      }
      case 0x50: { // PERSID (text)
        const pid = line();
        if (!opts.persistentLoad) fail('persistent id without a loader', at);
        stack.push(opts.persistentLoad!(pid));
        break;
      }
      case 0x71: // BINPUT
        memoPut(u8());
        break;
      case 0x72: // LONG_BINPUT
        memoPut(u32());
        break;
      case 0x70: // PUT (text)
        memoPut(parseIntText(line().trim(), fail) as number);
        break;
      case 0x94: // MEMOIZE
        memoPut(memo.size);
        break;
      case 0x68: // BINGET
        stack.push(memoGet(u8()));
        break;
      case 0x6a: // LONG_BINGET
        stack.push(memoGet(u32()));
        break;
      case 0x67: // GET (text)
        stack.push(memoGet(parseIntText(line().trim(), fail) as number));
        break;
      default:
        fail(`unsupported opcode 0x${op.toString(16).padStart(2, '0')} ('${String.fromCharCode(op)}')`, at);
    }
  }
}

function parseIntText(s: string, fail: (m: string) => never): number | bigint {
  if (!/^[-+]?\d+$/.test(s)) fail(`bad integer text '${s}'`);
  const big = BigInt(s);
  return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
}

/** Little-endian two's complement; a number when it fits exactly, else a bigint. */
function longFrom(b: Uint8Array): number | bigint {
  if (b.length === 0) return 0;
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
  if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function describe(v: unknown): string {
  if (v === null) return 'None';
  if (v instanceof PyGlobal) return `global ${v.qualified}`;
  if (v instanceof PyObject) return `${v.cls} object`;
  if (v instanceof Map) return 'a dict';
  if (Array.isArray(v)) return 'a list/tuple';
  return typeof v;
}

