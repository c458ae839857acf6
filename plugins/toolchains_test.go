package plugins_test

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestToolchainTargetsInstallWhatTheBuildsUse: every Debian package a
// plugin build uses must be installed by that build's toolchain-* target
// (plugins/toolchains.mk), or a fresh machine fails the way Debian's rustc
// without lld did (`linker rust-lld not found`). A test may not uninstall
// packages from its machine, so it checks the install lists instead: each
// build runs under strace, every file it executes or opens is mapped to its
// package by dpkg, and that package must be in the dependency closure of
// what the target installs (or part of any Debian system, or used by make
// itself before it builds anything).
func TestToolchainTargetsInstallWhatTheBuildsUse(t *testing.T) {
	if testing.Short() {
		t.Skip("builds plugins under strace")
	}
	for _, tool := range []string{"make", "strace", "dpkg", "dpkg-query", "apt-cache"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s (installed by make deps-test): %v", tool, err)
		}
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	installs := toolchainPackages(t, root)
	base := basePackages(t)

	for _, tc := range []struct {
		toolchain string   // the line of `make toolchain-packages`
		builds    []string // outputs under EXAMPLES_BIN
	}{
		{"wat", []string{"signin-example-wat.wasm", "obj/wat-template.wasm"}},
		{"c", []string{"signin-example-c.wasm", "obj/errno-check-c.wasm"}},
		{"rust", []string{"signin-example-rust.wasm"}},
		{"node", []string{"signin-example-assemblyscript.wasm"}},
	} {
		t.Run(tc.toolchain, func(t *testing.T) {
			pkgs, ok := installs[tc.toolchain]
			if !ok {
				t.Fatalf("make toolchain-packages lists no %q toolchain", tc.toolchain)
			}
			closure := dependencyClosure(t, pkgs)
			out := t.TempDir()
			var targets []string
			for _, b := range tc.builds {
				targets = append(targets, filepath.Join(out, b))
			}
			// make -n runs the makefiles' $(shell) calls but no recipe:
			// what it uses is make's own, not the toolchain's.
			overhead := tracedPackages(t, root, append([]string{"-n", "EXAMPLES_BIN=" + out}, targets...))
			used := tracedPackages(t, root, append([]string{"EXAMPLES_BIN=" + out}, targets...))
			for _, target := range targets {
				if _, err := os.Stat(target); err != nil {
					t.Fatalf("build made no %s: %v", target, err)
				}
			}
			var missing []string
			for _, p := range used {
				if !closure[p] && !base[p] && !slices.Contains(overhead, p) {
					missing = append(missing, p)
				}
			}
			if len(missing) > 0 {
				t.Errorf("the %s builds use %v, which toolchain-%s (installing %v) does not install",
					tc.toolchain, missing, tc.toolchain, pkgs)
			}
			if !slices.ContainsFunc(used, func(p string) bool { return closure[p] }) {
				t.Errorf("the %s builds used none of %v: the trace saw nothing (used: %v)", tc.toolchain, pkgs, used)
			}
		})
	}
}

// toolchainPackages reads `make toolchain-packages`: "name pkg pkg…" lines.
func toolchainPackages(t *testing.T, root string) map[string][]string {
	t.Helper()
	cmd := exec.Command("make", "-s", "--no-print-directory", "toolchain-packages")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("make toolchain-packages: %v", err)
	}
	m := map[string][]string{}
	for line := range strings.Lines(string(out)) {
		if f := strings.Fields(line); len(f) > 1 {
			m[f[0]] = f[1:]
		}
	}
	return m
}

// dependencyClosure is what apt installs with pkgs: their Depends and
// Pre-Depends, recursively (the install uses --no-install-recommends).
func dependencyClosure(t *testing.T, pkgs []string) map[string]bool {
	t.Helper()
	args := append([]string{"depends", "--recurse", "--no-recommends", "--no-suggests",
		"--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances"}, pkgs...)
	out, err := exec.Command("apt-cache", args...).Output()
	if err != nil {
		t.Fatalf("apt-cache depends %v: %v", pkgs, err)
	}
	closure := map[string]bool{}
	for line := range strings.Lines(string(out)) {
		// Package lines start in column 0; dependency lines are indented,
		// virtual packages are <bracketed>.
		if line != "" && line[0] != ' ' && line[0] != '<' {
			closure[packageName(strings.TrimSpace(line))] = true
		}
	}
	return closure
}

// basePackages are on every Debian system: Essential or Priority required.
func basePackages(t *testing.T) map[string]bool {
	t.Helper()
	out, err := exec.Command("dpkg-query", "-W", "-f", "${Package} ${Essential} ${Priority}\n").Output()
	if err != nil {
		t.Fatalf("dpkg-query: %v", err)
	}
	base := map[string]bool{}
	for line := range strings.Lines(string(out)) {
		if f := strings.Fields(line); len(f) == 3 && (f[1] == "yes" || f[2] == "required") {
			base[f[0]] = true
		}
	}
	return base
}

// syscallPath is the file an execve or openat trace line names.
var syscallPath = regexp.MustCompile(`(?:execve|openat)\((?:AT_FDCWD, )?"(/[^"]+)"`)

// tracedPackages runs make with args under strace and returns the Debian
// packages owning the system files it and its children executed or opened.
func tracedPackages(t *testing.T, root string, args []string) []string {
	t.Helper()
	trace := filepath.Join(t.TempDir(), "trace")
	cmd := exec.Command("strace", append([]string{"-f", "-qq", "-e", "trace=execve,openat",
		"-e", "status=successful", "-o", trace, "make", "--no-print-directory"}, args...)...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make %v: %v\n%s", args, err, out)
	}
	f, err := os.Open(trace)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	files := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		m := syscallPath.FindStringSubmatch(sc.Text())
		if m == nil || !systemFile(m[1]) {
			continue
		}
		if fi, err := os.Stat(m[1]); err != nil || !fi.Mode().IsRegular() {
			continue
		}
		files[m[1]] = true
		// A link belongs to one package and its target maybe to another
		// (Debian's rust-lld is rustc's link to lld-14's binary).
		if real, err := filepath.EvalSymlinks(m[1]); err == nil {
			files[real] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return owners(t, files)
}

func systemFile(path string) bool {
	for _, dir := range []string{"/usr/", "/bin/", "/sbin/", "/lib/", "/lib64/", "/etc/", "/opt/"} {
		if strings.HasPrefix(path, dir) {
			return true
		}
	}
	return false
}

// owners asks dpkg which packages own files. With merged /usr, dpkg may
// know a file under /lib by that name only, so both spellings are asked;
// files no package owns (generated caches, the Go toolchain) are skipped.
func owners(t *testing.T, files map[string]bool) []string {
	t.Helper()
	var args []string
	for f := range files {
		args = append(args, f)
		if rest, ok := strings.CutPrefix(f, "/usr"); ok {
			args = append(args, rest)
		}
	}
	if len(args) == 0 {
		return nil
	}
	cmd := exec.Command("dpkg", append([]string{"-S"}, args...)...)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	_ = cmd.Run() // exits 1 when any path is unowned; the owned ones are printed still
	var pkgs []string
	for line := range strings.Lines(stdout.String()) {
		names, _, ok := strings.Cut(line, ": ")
		if !ok || strings.HasPrefix(names, "diversion by") || strings.HasPrefix(names, "local diversion") {
			continue
		}
		for name := range strings.SplitSeq(names, ", ") {
			if p := packageName(name); !slices.Contains(pkgs, p) {
				pkgs = append(pkgs, p)
			}
		}
	}
	slices.Sort(pkgs)
	return pkgs
}

// packageName drops an architecture qualifier: libc6:amd64 is libc6.
func packageName(s string) string {
	name, _, _ := strings.Cut(s, ":")
	return name
}
