// Package wasmbomb builds hostile WebAssembly binaries for the plugin
// host's tests: modules small on disk that cost a compiler or a runtime
// far more than their size. They are generated rather than committed,
// being megabytes of repetition.
package wasmbomb

// NestedBlocks is funcs functions of type (i32) -> (), each nesting depth
// empty blocks.
func NestedBlocks(depth, funcs int) []byte {
	b := []byte{0}
	for range depth {
		b = append(b, 0x02, 0x40)
	}
	for range depth {
		b = append(b, 0x0B)
	}
	return module(repeat(append(b, 0x0B), funcs), nil, nil)
}

// BrTables is funcs functions, each nesting depth blocks around one
// br_table of targets entries over them (what a 2 MB module of large
// br_tables is made of).
func BrTables(depth, targets, funcs int) []byte {
	b := []byte{0}
	for range depth {
		b = append(b, 0x02, 0x40)
	}
	b = append(b, 0x20, 0x00, 0x0E) // local.get 0, br_table
	b = u32(b, uint32(targets))
	for i := range targets + 1 {
		b = u32(b, uint32(i%depth))
	}
	for range depth {
		b = append(b, 0x0B)
	}
	return module(repeat(append(b, 0x0B), funcs), nil, nil)
}

// Locals is one function declaring n i32 locals in six bytes.
func Locals(n uint32) []byte {
	b := u32([]byte{1}, n)
	return module([][]byte{append(b, 0x7F, 0x0B)}, nil, nil)
}

// Globals is a module defining n immutable i32 globals.
func Globals(n int) []byte {
	g := u32(nil, uint32(n))
	for range n {
		g = append(g, 0x7F, 0x00, 0x41, 0x00, 0x0B)
	}
	return module(nil, nil, g)
}

// Table is a module with one funcref table of min entries and the given
// maximum (none when max < 0).
func Table(min uint32, max int64) []byte {
	t := []byte{1, 0x70}
	if max < 0 {
		t = u32(append(t, 0x00), min)
	} else {
		t = u32(u32(append(t, 0x01), min), uint32(max))
	}
	return module(nil, t, nil)
}

func repeat(body []byte, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = body
	}
	return out
}

// module assembles a type section ((i32) -> ()), the functions of bodies,
// and the table and global sections when given.
func module(bodies [][]byte, table, globals []byte) []byte {
	m := []byte("\x00asm\x01\x00\x00\x00")
	m = section(m, 1, []byte{1, 0x60, 1, 0x7F, 0})
	if len(bodies) > 0 {
		fs := u32(nil, uint32(len(bodies)))
		for range bodies {
			fs = append(fs, 0)
		}
		m = section(m, 3, fs)
	}
	if table != nil {
		m = section(m, 4, table)
	}
	if globals != nil {
		m = section(m, 6, globals)
	}
	if len(bodies) > 0 {
		code := u32(nil, uint32(len(bodies)))
		for _, b := range bodies {
			code = append(u32(code, uint32(len(b))), b...)
		}
		m = section(m, 10, code)
	}
	return m
}

func section(m []byte, id byte, body []byte) []byte {
	return append(u32(append(m, id), uint32(len(body))), body...)
}

func u32(b []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7F)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}
