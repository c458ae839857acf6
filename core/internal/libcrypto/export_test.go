package libcrypto

// Open opens a library by name, as Load opens libcrypto.so.3, without
// making it the one keys are signed with.
func Open(name string) (string, error) { return open(name) }
