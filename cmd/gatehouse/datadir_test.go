package main

import (
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/core/store/badger"
)

// stoppedDataDir points the configuration (through its environment
// variables) at a fresh Badger data directory holding what seed writes,
// closed again as a stopped server leaves it, for the offline commands.
func stoppedDataDir(t *testing.T, seed func(*store.Store)) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("GATEHOUSE_STORAGE__DIR", dir)
	t.Setenv("GATEHOUSE_STORAGE__BACKEND", "badger")
	kv, err := badger.Open(dir, badger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(kv)
	seed(st)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}
