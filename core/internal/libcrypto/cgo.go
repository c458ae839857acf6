//go:build linux && cgo

package libcrypto

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <stddef.h>

// OpenSSL's types, opaque here: the library is opened at run time, so
// its headers are not needed. Values from OpenSSL 3's headers.
typedef struct evp_pkey_st EVP_PKEY;
typedef struct evp_pkey_ctx_st EVP_PKEY_CTX;
typedef struct evp_md_st EVP_MD;
typedef struct engine_st ENGINE;
typedef struct ossl_init_settings_st OPENSSL_INIT_SETTINGS;

#define GH_EVP_PKEY_RSA 6
#define GH_RSA_PKCS1_PADDING 1
#define GH_OPENSSL_INIT_NO_ATEXIT 0x00080000UL

// gh_lib is the library's functions this package calls.
typedef struct {
	void *handle;
	unsigned long (*OpenSSL_version_num)(void);
	int (*OPENSSL_init_crypto)(uint64_t, const OPENSSL_INIT_SETTINGS *);
	EVP_PKEY *(*d2i_PrivateKey)(int, EVP_PKEY **, const unsigned char **, long);
	int (*EVP_PKEY_get_size)(const EVP_PKEY *);
	void (*EVP_PKEY_free)(EVP_PKEY *);
	EVP_PKEY_CTX *(*EVP_PKEY_CTX_new)(EVP_PKEY *, ENGINE *);
	void (*EVP_PKEY_CTX_free)(EVP_PKEY_CTX *);
	int (*EVP_PKEY_sign_init)(EVP_PKEY_CTX *);
	int (*EVP_PKEY_CTX_set_rsa_padding)(EVP_PKEY_CTX *, int);
	int (*EVP_PKEY_CTX_set_signature_md)(EVP_PKEY_CTX *, const EVP_MD *);
	const EVP_MD *(*EVP_sha256)(void);
	int (*EVP_PKEY_sign)(EVP_PKEY_CTX *, unsigned char *, size_t *, const unsigned char *, size_t);
	unsigned long (*ERR_get_error)(void);
	void (*ERR_clear_error)(void);
	void (*ERR_error_string_n)(unsigned long, char *, size_t);
} gh_lib;

// lib is the library gh_install installed; written once, before any key
// is made.
static gh_lib lib;

// gh_open opens name and resolves every function into *l. It returns 0,
// or -1 with what failed written to msg.
static int gh_open(const char *name, gh_lib *l, char *msg, size_t msglen) {
	void *h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		const char *e = dlerror();
		snprintf(msg, msglen, "%s", e ? e : "dlopen failed");
		return -1;
	}
	l->handle = h;
#define GH_SYM(f) \
	if ((*(void **)(&l->f) = dlsym(h, #f)) == NULL) { \
		snprintf(msg, msglen, "%s has no %s", name, #f); \
		dlclose(h); \
		return -1; \
	}
	GH_SYM(OpenSSL_version_num)
	GH_SYM(OPENSSL_init_crypto)
	GH_SYM(d2i_PrivateKey)
	GH_SYM(EVP_PKEY_get_size)
	GH_SYM(EVP_PKEY_free)
	GH_SYM(EVP_PKEY_CTX_new)
	GH_SYM(EVP_PKEY_CTX_free)
	GH_SYM(EVP_PKEY_sign_init)
	GH_SYM(EVP_PKEY_CTX_set_rsa_padding)
	GH_SYM(EVP_PKEY_CTX_set_signature_md)
	GH_SYM(EVP_sha256)
	GH_SYM(EVP_PKEY_sign)
	GH_SYM(ERR_get_error)
	GH_SYM(ERR_clear_error)
	GH_SYM(ERR_error_string_n)
#undef GH_SYM
	return 0;
}

static unsigned long gh_version(const gh_lib *l) { return l->OpenSSL_version_num(); }

static void gh_close(gh_lib *l) { dlclose(l->handle); }

// gh_install makes *l the library keys are made and signed with. No
// atexit handler: OpenSSL's would free its state at exit while another
// thread may still be signing.
static int gh_install(const gh_lib *l) {
	lib = *l;
	return lib.OPENSSL_init_crypto(GH_OPENSSL_INIT_NO_ATEXIT, NULL) == 1 ? 0 : -1;
}

// gh_error takes the first error of this thread's queue and empties it,
// so that the next call on the thread starts clean.
static unsigned long gh_error(void) {
	unsigned long e = lib.ERR_get_error();
	lib.ERR_clear_error();
	return e;
}

static void gh_error_string(unsigned long e, char *buf, size_t len) {
	lib.ERR_error_string_n(e, buf, len);
}

// gh_rsa_key parses a PKCS #1 RSAPrivateKey. It keeps nothing of der and
// refuses trailing bytes.
static EVP_PKEY *gh_rsa_key(const unsigned char *der, long len, unsigned long *err) {
	lib.ERR_clear_error(); // what a call before left is not this call's error
	const unsigned char *p = der;
	EVP_PKEY *pkey = lib.d2i_PrivateKey(GH_EVP_PKEY_RSA, NULL, &p, len);
	if (pkey == NULL) {
		*err = gh_error();
		return NULL;
	}
	if (p != der + len) {
		lib.EVP_PKEY_free(pkey);
		*err = 0;
		return NULL;
	}
	return pkey;
}

static int gh_size(const EVP_PKEY *pkey) { return lib.EVP_PKEY_get_size(pkey); }

static void gh_free_key(EVP_PKEY *pkey) { lib.EVP_PKEY_free(pkey); }

// gh_sign writes the PKCS #1 v1.5 signature of a SHA-256 digest to sig,
// whose length *siglen is on entry and the signature's on return. It
// returns 0, or -1 with the library's error in *err. A context per
// signature costs about 3 us against 250 us for the signature, so none
// is kept (a context is not safe for concurrent use; the key is).
static int gh_sign(EVP_PKEY *pkey, const unsigned char *digest, size_t dlen,
		unsigned char *sig, size_t *siglen, unsigned long *err) {
	lib.ERR_clear_error();
	EVP_PKEY_CTX *ctx = lib.EVP_PKEY_CTX_new(pkey, NULL);
	int ok = ctx != NULL
		&& lib.EVP_PKEY_sign_init(ctx) > 0
		&& lib.EVP_PKEY_CTX_set_rsa_padding(ctx, GH_RSA_PKCS1_PADDING) > 0
		&& lib.EVP_PKEY_CTX_set_signature_md(ctx, lib.EVP_sha256()) > 0
		&& lib.EVP_PKEY_sign(ctx, sig, siglen, digest, dlen) > 0;
	lib.EVP_PKEY_CTX_free(ctx);
	if (!ok) {
		*err = gh_error();
		return -1;
	}
	return 0;
}

*/
import "C"

import (
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"runtime"
	"unsafe"
)

// open loads name and checks it is OpenSSL 3.x; only Library is installed
// (the others are tests of what fails).
func open(name string) (string, error) {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var l C.gh_lib
	msg := make([]byte, 256)
	if C.gh_open(cname, &l, (*C.char)(unsafe.Pointer(&msg[0])), C.size_t(len(msg))) != 0 {
		return "", fmt.Errorf("%w: %s", ErrUnavailable, C.GoString((*C.char)(unsafe.Pointer(&msg[0]))))
	}
	v := uint64(C.gh_version(&l))
	if v>>28 != 3 {
		C.gh_close(&l)
		return "", fmt.Errorf("%w: %s is OpenSSL %s, not 3.x", ErrUnavailable, name, versionString(v))
	}
	if name != Library {
		C.gh_close(&l)
		return versionString(v), nil
	}
	if C.gh_install(&l) != 0 {
		return "", fmt.Errorf("%w: OPENSSL_init_crypto failed", ErrUnavailable)
	}
	return versionString(v), nil
}

// errString is the library's text for an error code.
func errString(code C.ulong) string {
	if code == 0 {
		return "unknown error"
	}
	buf := make([]byte, 256)
	C.gh_error_string(code, (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)))
	return C.GoString((*C.char)(unsafe.Pointer(&buf[0])))
}

// RSAKey is an RSA private key in the library's memory, freed once the
// RSAKey is unreachable. It is safe for concurrent use.
type RSAKey struct {
	pkey *C.EVP_PKEY
	size int
}

// NewRSAKey copies key into the library.
func NewRSAKey(key *rsa.PrivateKey) (*RSAKey, error) {
	if err := Load(); err != nil {
		return nil, err
	}
	der := x509.MarshalPKCS1PrivateKey(key)
	// The library parses the key into its own memory: zero this copy
	// once it has (the buffers x509 grew it through are out of reach).
	defer clear(der)
	var code C.ulong
	pkey := C.gh_rsa_key((*C.uchar)(unsafe.Pointer(&der[0])), C.long(len(der)), &code)
	if pkey == nil {
		return nil, fmt.Errorf("libcrypto: load RSA key: %s", errString(code))
	}
	if size := int(C.gh_size(pkey)); size != key.Size() {
		C.gh_free_key(pkey)
		return nil, fmt.Errorf("libcrypto: RSA key of %d bytes, want %d", size, key.Size())
	}
	k := &RSAKey{pkey: pkey, size: key.Size()}
	live.Add(1)
	runtime.AddCleanup(k, func(p *C.EVP_PKEY) {
		C.gh_free_key(p)
		live.Add(-1)
	}, pkey)
	return k, nil
}

// SignPKCS1v15SHA256 is the RSASSA-PKCS1-v1_5 signature (RFC 8017 §8.2)
// of a SHA-256 digest: what rsa.SignPKCS1v15 makes with crypto.SHA256.
func (k *RSAKey) SignPKCS1v15SHA256(digest []byte) ([]byte, error) {
	if len(digest) != 32 {
		return nil, errors.New("libcrypto: a SHA-256 digest is 32 bytes")
	}
	sig := make([]byte, k.size)
	n := C.size_t(len(sig))
	var code C.ulong
	rc := C.gh_sign(k.pkey, (*C.uchar)(unsafe.Pointer(&digest[0])), C.size_t(len(digest)),
		(*C.uchar)(unsafe.Pointer(&sig[0])), &n, &code)
	runtime.KeepAlive(k)
	if rc != 0 {
		return nil, fmt.Errorf("libcrypto: RSA sign: %s", errString(code))
	}
	if int(n) != k.size {
		return nil, fmt.Errorf("libcrypto: RSA signature of %d bytes, want %d", n, k.size)
	}
	return sig, nil
}
