// Package wasmlimit checks a WebAssembly binary against resource limits
// before it is compiled, and caps its tables.
//
// wazero bounds only linear memory. Everything else a module declares is
// taken at its word: a table without a maximum grows until the process runs
// out of memory, a function declaring four billion locals allocates them at
// decode time, and deeply nested blocks or huge br_tables make the compiler
// spend minutes and gigabytes on a small file. Check reads the sections that
// carry those costs (tables, memory, globals, elements, code) without
// compiling anything, refuses what is over a limit and returns the binary to
// compile, in which every table's maximum is at most Limits.TableElements
// (a table.grow past it returns -1, as the core spec allows).
package wasmlimit

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// Limits bound one module. Every field must be positive.
type Limits struct {
	// ModuleBytes caps the size of the binary.
	ModuleBytes int
	// MemoryPages caps the minimum of the memory: a larger one could never
	// be instantiated. (A larger maximum is not refused: wazero caps growth.)
	MemoryPages uint32
	// Tables caps how many tables the module defines; TableElements caps
	// the minimum (refused above it) and the maximum (lowered to it) of each.
	Tables        int
	TableElements uint32
	// Globals caps the globals the module defines.
	Globals int
	// Functions caps the functions the module defines.
	Functions int
	// ElementEntries caps the entries of all element segments together.
	ElementEntries int
	// DataSegments caps the number of data segments.
	DataSegments int
	// FunctionBytes caps one function body; Locals the locals it declares;
	// Nesting its depth of nested blocks, loops and ifs; BrTableTargets the
	// targets of one br_table.
	FunctionBytes  int
	Locals         int
	Nesting        int
	BrTableTargets int
}

// Defaults are the limits of a plugin without overrides. Functions, body
// size and locals are the web's (browser engines refuse a module past them,
// so toolchains stay within). Nesting and br_table size, which the web
// leaves at the body size, are what make wazero's compile explode, so they
// are set from measurements of wazero 1.12: 16384 nested blocks take 6 s to
// compile and one 65520-target br_table 2–5 s and 160 MB, while 4096 and
// 8192 stay under half a second; the largest in a real plugin (a Go one)
// are 550 and 964. The rest keep one instance's share of the process to a
// few megabytes.
var Defaults = Limits{
	ModuleBytes:    32 << 20,
	MemoryPages:    65536,
	Tables:         8,
	TableElements:  1 << 17,
	Globals:        1 << 16,
	Functions:      1 << 18,
	ElementEntries: 1 << 18,
	DataSegments:   1 << 16,
	FunctionBytes:  7654321,
	Locals:         50000,
	Nesting:        4096,
	BrTableTargets: 8192,
}

// Error is a module over a limit (or one the check cannot read).
type Error struct {
	// Limit names what was exceeded, in the words of the configuration
	// ("module bytes", "table elements", "nesting", ...), or "malformed".
	Limit  string
	Detail string
}

func (e *Error) Error() string { return e.Limit + ": " + e.Detail }

func over(limit, format string, args ...any) error {
	return &Error{Limit: limit, Detail: fmt.Sprintf(format, args...)}
}

var errTruncated = errors.New("unexpected end")

func malformed(where string, err error) error {
	return &Error{Limit: "malformed", Detail: where + ": " + err.Error()}
}

// Section ids (core spec §5.5.2).
const (
	secCustom   = 0
	secTable    = 4
	secMemory   = 5
	secGlobal   = 6
	secElement  = 9
	secCode     = 10
	secData     = 11
	secFunction = 3
)

// Check checks wasm against l and returns the binary to compile: wasm
// itself, or a copy whose table section caps every table at
// l.TableElements. A refusal is an *Error.
func Check(wasm []byte, l Limits) ([]byte, error) {
	if len(wasm) > l.ModuleBytes {
		return nil, over("module bytes", "%d bytes > %d", len(wasm), l.ModuleBytes)
	}
	if len(wasm) < 8 || !bytes.Equal(wasm[:4], []byte("\x00asm")) {
		return nil, malformed("header", errors.New("not a WebAssembly binary"))
	}
	if v := binary.LittleEndian.Uint32(wasm[4:8]); v != 1 {
		return nil, malformed("header", fmt.Errorf("version %d, want 1", v))
	}
	out := wasm
	r := &reader{b: wasm, off: 8}
	for r.off < len(r.b) {
		start := r.off
		id, err := r.byte()
		if err != nil {
			return nil, malformed("section id", err)
		}
		size, err := r.u32()
		if err != nil {
			return nil, malformed("section size", err)
		}
		if int(size) > len(r.b)-r.off {
			return nil, malformed(fmt.Sprintf("section %d", id), errTruncated)
		}
		body := &reader{b: r.b[r.off : r.off+int(size)]}
		r.off += int(size)
		switch id {
		case secTable:
			capped, err := checkTables(body, l)
			if err != nil {
				return nil, err
			}
			if capped != nil {
				// Splice the re-encoded section in place of the old one.
				sec := append([]byte{secTable}, appendU32(nil, uint32(len(capped)))...)
				sec = append(sec, capped...)
				n := make([]byte, 0, len(wasm)+len(sec))
				n = append(n, wasm[:start]...)
				n = append(n, sec...)
				n = append(n, wasm[r.off:]...)
				out = n
			}
		case secMemory:
			err = checkMemory(body, l)
		case secGlobal:
			err = checkCount(body, "globals", l.Globals)
		case secFunction:
			err = checkCount(body, "functions", l.Functions)
		case secData:
			err = checkCount(body, "data segments", l.DataSegments)
		case secElement:
			err = checkElements(body, l)
		case secCode:
			err = checkCode(body, l)
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func checkCount(r *reader, limit string, max int) error {
	n, err := r.u32()
	if err != nil {
		return malformed(limit, err)
	}
	if int64(n) > int64(max) {
		return over(limit, "%d > %d", n, max)
	}
	return nil
}

// limits reads a limits (§5.3.7): flag, min, optional max.
func (r *reader) limits() (min uint32, max uint32, hasMax bool, err error) {
	flag, err := r.byte()
	if err != nil {
		return 0, 0, false, err
	}
	switch flag {
	case 0x00, 0x01, 0x02, 0x03: // 0x02 and 0x03 are shared memories (threads)
	default:
		return 0, 0, false, fmt.Errorf("limits flag %#x", flag)
	}
	if min, err = r.u32(); err != nil {
		return 0, 0, false, err
	}
	if flag&1 == 1 {
		if max, err = r.u32(); err != nil {
			return 0, 0, false, err
		}
		hasMax = true
	}
	return min, max, hasMax, nil
}

// checkTables checks the table section and returns it re-encoded when a
// table's maximum had to be lowered (nil when none had).
func checkTables(r *reader, l Limits) ([]byte, error) {
	n, err := r.u32()
	if err != nil {
		return nil, malformed("table section", err)
	}
	if int64(n) > int64(l.Tables) {
		return nil, over("tables", "%d > %d", n, l.Tables)
	}
	out := appendU32(nil, n)
	changed := false
	for i := range n {
		ref, err := r.byte()
		if err != nil {
			return nil, malformed("table section", err)
		}
		min, max, hasMax, err := r.limits()
		if err != nil {
			return nil, malformed(fmt.Sprintf("table %d", i), err)
		}
		if min > l.TableElements {
			return nil, over("table elements", "table %d starts with %d elements > %d", i, min, l.TableElements)
		}
		if !hasMax || max > l.TableElements {
			max, changed = l.TableElements, true
		}
		out = append(out, ref, 0x01)
		out = appendU32(appendU32(out, min), max)
	}
	if r.off != len(r.b) {
		return nil, malformed("table section", errors.New("trailing bytes"))
	}
	if !changed {
		return nil, nil
	}
	return out, nil
}

func checkMemory(r *reader, l Limits) error {
	n, err := r.u32()
	if err != nil {
		return malformed("memory section", err)
	}
	for i := range n {
		min, _, _, err := r.limits()
		if err != nil {
			return malformed(fmt.Sprintf("memory %d", i), err)
		}
		if min > l.MemoryPages {
			return over("memory pages", "memory %d starts with %d pages > %d", i, min, l.MemoryPages)
		}
	}
	return nil
}

// checkElements sums the entries of every element segment (§5.5.12).
func checkElements(r *reader, l Limits) error {
	n, err := r.u32()
	if err != nil {
		return malformed("element section", err)
	}
	total := 0
	for i := range n {
		if err := r.elementSegment(&total); err != nil {
			return malformed(fmt.Sprintf("element segment %d", i), err)
		}
		if total > l.ElementEntries {
			return over("element entries", "%d > %d", total, l.ElementEntries)
		}
	}
	return nil
}

func (r *reader) elementSegment(total *int) error {
	flags, err := r.u32()
	if err != nil {
		return err
	}
	if flags > 7 {
		return fmt.Errorf("flags %d", flags)
	}
	if flags&2 != 0 && flags&1 == 0 { // explicit table index
		if _, err := r.u32(); err != nil {
			return err
		}
	}
	if flags&1 == 0 { // active: offset expression
		if err := r.constExpr(); err != nil {
			return err
		}
	}
	if flags&3 != 0 { // elemkind or reftype
		if _, err := r.byte(); err != nil {
			return err
		}
	}
	count, err := r.u32()
	if err != nil {
		return err
	}
	*total += int(count)
	for range count {
		if flags&4 == 0 {
			_, err = r.u32()
		} else {
			err = r.constExpr()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// constExpr skips a constant expression up to its end.
func (r *reader) constExpr() error {
	for {
		op, err := r.byte()
		if err != nil {
			return err
		}
		switch op {
		case 0x0B:
			return nil
		case 0x41, 0x42: // i32.const, i64.const
			err = r.skipLEB()
		case 0x43:
			err = r.skip(4)
		case 0x44:
			err = r.skip(8)
		case 0x23, 0xD2: // global.get, ref.func
			_, err = r.u32()
		case 0xD0: // ref.null
			_, err = r.byte()
		case 0x6A, 0x6B, 0x6C, 0x7C, 0x7D, 0x7E: // extended-const arithmetic
		case 0xFD: // v128.const
			var sub uint32
			if sub, err = r.u32(); err == nil && sub != 12 {
				err = fmt.Errorf("opcode 0xfd %d in a constant expression", sub)
			}
			if err == nil {
				err = r.skip(16)
			}
		default:
			err = fmt.Errorf("opcode %#x in a constant expression", op)
		}
		if err != nil {
			return err
		}
	}
}

// checkCode checks every function body of the code section.
func checkCode(r *reader, l Limits) error {
	n, err := r.u32()
	if err != nil {
		return malformed("code section", err)
	}
	if int64(n) > int64(l.Functions) {
		return over("functions", "%d > %d", n, l.Functions)
	}
	for i := range n {
		size, err := r.u32()
		if err != nil {
			return malformed(fmt.Sprintf("function %d", i), err)
		}
		if int64(size) > int64(l.FunctionBytes) {
			return over("function bytes", "function %d has %d bytes > %d", i, size, l.FunctionBytes)
		}
		if int(size) > len(r.b)-r.off {
			return malformed(fmt.Sprintf("function %d", i), errTruncated)
		}
		body := &reader{b: r.b[r.off : r.off+int(size)]}
		r.off += int(size)
		if err := checkBody(body, l); err != nil {
			var e *Error
			if errors.As(err, &e) {
				e.Detail = fmt.Sprintf("function %d: %s", i, e.Detail)
				return e
			}
			return malformed(fmt.Sprintf("function %d", i), err)
		}
	}
	return nil
}

// checkBody reads one function body (§5.5.13): its locals, then every
// instruction, tracking the nesting of blocks and the size of br_tables.
func checkBody(r *reader, l Limits) error {
	groups, err := r.u32()
	if err != nil {
		return err
	}
	var locals uint64
	for range groups {
		n, err := r.u32()
		if err != nil {
			return err
		}
		locals += uint64(n)
		if locals > uint64(l.Locals) {
			return over("locals", "%d > %d", locals, l.Locals)
		}
		if err := r.valType(); err != nil {
			return err
		}
	}
	depth := 1 // the function's own block
	for depth > 0 {
		op, err := r.byte()
		if err != nil {
			return err
		}
		switch {
		case op == 0x02 || op == 0x03 || op == 0x04: // block, loop, if
			if err := r.blockType(); err != nil {
				return err
			}
			depth++
			if depth-1 > l.Nesting {
				return over("nesting", "blocks nested %d deep > %d", depth-1, l.Nesting)
			}
		case op == 0x0B: // end
			depth--
		case op == 0x0E: // br_table
			n, err := r.u32()
			if err != nil {
				return err
			}
			if int64(n) > int64(l.BrTableTargets) {
				return over("br_table targets", "%d > %d", n, l.BrTableTargets)
			}
			for range n + 1 {
				if _, err := r.u32(); err != nil {
					return err
				}
			}
		default:
			if err := r.immediates(op); err != nil {
				return err
			}
		}
	}
	if r.off != len(r.b) {
		return errors.New("bytes after the function's end")
	}
	return nil
}

// immediates skips the immediates of every other instruction of
// WebAssembly 2.0 (the features wazero enables by default). An opcode it
// does not know is refused: wazero would refuse it too.
func (r *reader) immediates(op byte) error {
	var err error
	switch {
	case op == 0x00, op == 0x01, op == 0x05, op == 0x0F, op == 0x1A, op == 0x1B,
		op >= 0x45 && op <= 0xC4, op == 0xD1:
		// no immediates
	case op == 0x0C, op == 0x0D, op == 0x10, // br, br_if, call
		op >= 0x20 && op <= 0x26, // local.*, global.*, table.get/set
		op == 0xD2:               // ref.func
		_, err = r.u32()
	case op == 0x11: // call_indirect
		if _, err = r.u32(); err == nil {
			_, err = r.u32()
		}
	case op == 0x1C: // select t*
		var n uint32
		if n, err = r.u32(); err == nil {
			for range n {
				if err = r.valType(); err != nil {
					break
				}
			}
		}
	case op >= 0x28 && op <= 0x3E: // loads and stores
		err = r.memarg()
	case op == 0x3F, op == 0x40: // memory.size, memory.grow
		_, err = r.byte()
	case op == 0x41, op == 0x42:
		err = r.skipLEB()
	case op == 0x43:
		err = r.skip(4)
	case op == 0x44:
		err = r.skip(8)
	case op == 0xD0: // ref.null
		_, err = r.byte()
	case op == 0xFC:
		err = r.prefixFC()
	case op == 0xFD:
		err = r.prefixFD()
	default:
		err = fmt.Errorf("unknown opcode %#x", op)
	}
	return err
}

func (r *reader) prefixFC() error {
	sub, err := r.u32()
	if err != nil {
		return err
	}
	switch {
	case sub <= 7: // trunc_sat
		return nil
	case sub == 8: // memory.init data 0x00
		if _, err = r.u32(); err == nil {
			_, err = r.byte()
		}
	case sub == 9, sub == 13, sub >= 15 && sub <= 17: // data.drop, elem.drop, table.grow/size/fill
		_, err = r.u32()
	case sub == 10: // memory.copy 0x00 0x00
		err = r.skip(2)
	case sub == 11: // memory.fill 0x00
		err = r.skip(1)
	case sub == 12, sub == 14: // table.init, table.copy
		if _, err = r.u32(); err == nil {
			_, err = r.u32()
		}
	default:
		err = fmt.Errorf("unknown opcode 0xfc %d", sub)
	}
	return err
}

func (r *reader) prefixFD() error {
	sub, err := r.u32()
	if err != nil {
		return err
	}
	switch {
	case sub <= 11, sub == 92, sub == 93: // v128 loads and stores
		return r.memarg()
	case sub == 12, sub == 13: // v128.const, i8x16.shuffle
		return r.skip(16)
	case sub >= 21 && sub <= 34: // extract_lane, replace_lane
		return r.skip(1)
	case sub >= 84 && sub <= 91: // load_lane, store_lane
		if err := r.memarg(); err != nil {
			return err
		}
		return r.skip(1)
	case sub <= 275:
		return nil
	}
	return fmt.Errorf("unknown opcode 0xfd %d", sub)
}

func (r *reader) memarg() error {
	if _, err := r.u32(); err != nil {
		return err
	}
	_, err := r.u32()
	return err
}

func (r *reader) blockType() error {
	// 0x40 (empty), a value type (one byte, negative as s33), or a type
	// index (a non-negative s33).
	return r.skipLEB()
}

func (r *reader) valType() error {
	b, err := r.byte()
	if err != nil {
		return err
	}
	switch b {
	case 0x7F, 0x7E, 0x7D, 0x7C, 0x7B, 0x70, 0x6F:
		return nil
	}
	return fmt.Errorf("value type %#x", b)
}

// reader reads a section or body.
type reader struct {
	b   []byte
	off int
}

func (r *reader) byte() (byte, error) {
	if r.off >= len(r.b) {
		return 0, errTruncated
	}
	c := r.b[r.off]
	r.off++
	return c, nil
}

func (r *reader) skip(n int) error {
	if n > len(r.b)-r.off {
		return errTruncated
	}
	r.off += n
	return nil
}

// u32 reads an unsigned LEB128 of at most 5 bytes.
func (r *reader) u32() (uint32, error) {
	var v uint64
	for shift := 0; shift < 35; shift += 7 {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		v |= uint64(c&0x7F) << shift
		if c&0x80 == 0 {
			if v > 0xFFFFFFFF {
				return 0, errors.New("integer too large")
			}
			return uint32(v), nil
		}
	}
	return 0, errors.New("integer representation too long")
}

// skipLEB skips a signed or unsigned LEB128 of at most 10 bytes.
func (r *reader) skipLEB() error {
	for range 10 {
		c, err := r.byte()
		if err != nil {
			return err
		}
		if c&0x80 == 0 {
			return nil
		}
	}
	return errors.New("integer representation too long")
}

func appendU32(b []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7F)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}
