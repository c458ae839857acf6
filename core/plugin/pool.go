package plugin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/gatehouse-auth/gatehouse/sdk/go/hook"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"
)

// pool holds a plugin's instances. It starts with the one instance Load
// warmed and grows, up to size, only when calls overlap: an instance is
// tens of kilobytes for a C or Rust plugin but megabytes for a Go one, so a
// plugin called one at a time keeps one. Instances, once made, are kept
// (never created per request); a failed one is discarded, and the slot it
// frees is filled again by whichever call next needs it, so a failure costs
// the failing call, never the next. For a WASI command module no instance
// is kept and the pool only bounds concurrency.
type pool struct {
	// slots holds one token per call in progress: it bounds concurrency.
	slots chan struct{}
	// idle holds the instances no call is using.
	idle chan *instance
	size int
	done chan struct{}
	once sync.Once
}

func newPool(size int) *pool {
	return &pool{slots: make(chan struct{}, size), idle: make(chan *instance, size), size: size, done: make(chan struct{})}
}

// acquire waits for a free slot (or ctx) and returns an idle instance, or a
// new one when none is idle (nil for a WASI command module).
func (pl *pool) acquire(ctx context.Context, p *Plugin) (*instance, Reason, error) {
	if err := ctx.Err(); err != nil {
		return nil, ReasonNoInstance, err
	}
	select {
	case <-pl.done:
		return nil, ReasonClosed, nil
	default:
	}
	select {
	case pl.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ReasonNoInstance, ctx.Err()
	case <-pl.done:
		return nil, ReasonClosed, nil
	}
	select {
	case <-pl.done:
		<-pl.slots
		return nil, ReasonClosed, nil
	default:
	}
	select {
	case inst := <-pl.idle:
		return inst, "", nil
	default:
	}
	if p.kind != kindReactor {
		return nil, "", nil
	}
	inst, err := p.newInstance(ctx)
	if err != nil {
		<-pl.slots
		return nil, ReasonInstantiate, err
	}
	return inst, "", nil
}

// put returns a healthy instance to the pool.
func (pl *pool) put(inst *instance) {
	if inst != nil {
		pl.idle <- inst
	}
	<-pl.slots
}

// discard closes a failed instance and frees its slot.
func (pl *pool) discard(ctx context.Context, inst *instance) {
	if inst != nil {
		inst.close(context.WithoutCancel(ctx))
	}
	<-pl.slots
}

// warm adds an instance made outside a call (Load's first one).
func (pl *pool) warm(inst *instance) { pl.idle <- inst }

// close stops new calls and waits, until ctx ends, for the calls in flight
// to finish, then closes the instances.
func (pl *pool) close(ctx context.Context) error {
	pl.once.Do(func() { close(pl.done) })
	for range pl.size {
		select {
		case pl.slots <- struct{}{}:
		case <-ctx.Done():
			return fmt.Errorf("waiting for calls in flight: %w", ctx.Err())
		}
	}
	pl.closeIdle(ctx)
	return nil
}

// closeAll closes whatever instances are idle, without waiting; Load uses
// it to undo a half-built pool.
func (pl *pool) closeAll(ctx context.Context) {
	pl.once.Do(func() { close(pl.done) })
	pl.closeIdle(ctx)
}

func (pl *pool) closeIdle(ctx context.Context) {
	for {
		select {
		case inst := <-pl.idle:
			inst.close(context.WithoutCancel(ctx))
		default:
			return
		}
	}
}

// instance is one instantiated module with its exports looked up once
// (ExportedFunction allocates on every lookup).
type instance struct {
	p              *Plugin
	mod            api.Module
	mem            api.Memory
	alloc, free    api.Function
	hooks          [len(hook.Names)]api.Function
	stack          [2]uint64
	stdout, stderr *lineLogger
	// logs is this call's log budget, shared by log and stdout/stderr.
	logs *logBudget
	// inAlloc is set while the host runs gh_alloc or gh_free: a host
	// function that would call back into the guest is refused then
	// (ErrReentry); only a hook may use one.
	inAlloc bool
}

// newInstance instantiates the module, runs _initialize when exported and
// checks gh_abi_version(), all under the start-up deadline (InitTimeout):
// a runtime's start-up is work once per instance, not per call.
func (p *Plugin) newInstance(ctx context.Context) (*instance, error) {
	ctx, cancel := context.WithTimeout(ctx, p.limits.InitTimeout)
	defer cancel()
	logs := &logBudget{max: p.limits.MaxLogBytes}
	inst := &instance{
		p:      p,
		logs:   logs,
		stdout: newLineLogger(p.logger, "stdout", slog.LevelInfo, logs),
		stderr: newLineLogger(p.logger, "stderr", slog.LevelWarn, logs),
	}
	mod, err := p.wr.InstantiateModule(ctx, p.compiled, p.modConfig.WithStdout(inst.stdout).WithStderr(inst.stderr))
	if err != nil {
		return nil, fmt.Errorf("instantiate: %w", err)
	}
	inst.mod, inst.mem = mod, mod.Memory()
	inst.alloc, inst.free = mod.ExportedFunction("gh_alloc"), mod.ExportedFunction("gh_free")
	for i, h := range hook.Names {
		if p.serves[i] {
			inst.hooks[i] = mod.ExportedFunction("gh_" + h)
		}
	}
	p.instances.Store(mod, inst)
	if init := mod.ExportedFunction("_initialize"); init != nil {
		if err := init.CallWithStack(ctx, inst.stack[:]); err != nil {
			inst.close(ctx)
			return nil, &LoadError{Plugin: p.name, Reason: ReasonInitialize, Err: errors.New(cause(inst.classify(err), err))}
		}
	}
	if err := mod.ExportedFunction("gh_abi_version").CallWithStack(ctx, inst.stack[:]); err != nil {
		inst.close(ctx)
		return nil, &LoadError{Plugin: p.name, Reason: ReasonWrongABI, Err: errors.New(cause(inst.classify(err), err))}
	}
	if v := int32(inst.stack[0]); v != ABIVersion {
		inst.close(ctx)
		return nil, &LoadError{Plugin: p.name, Reason: ReasonWrongABI, Err: fmt.Errorf("gh_abi_version() returned %d, want %d", v, ABIVersion)}
	}
	return inst, nil
}

// call runs one hook on the instance: gh_alloc, copy the request in, the
// hook, copy the response out, gh_free both buffers. On failure it returns a
// reason and the instance must be discarded.
func (i *instance) call(ctx context.Context, h int, env []byte) ([]byte, Reason, error) {
	ctx, cancel := context.WithTimeout(ctx, i.p.limits.Timeout)
	defer cancel()
	i.logs.reset()
	st := i.stack[:]
	st[0] = uint64(len(env))
	i.inAlloc = true
	err := i.alloc.CallWithStack(ctx, st)
	i.inAlloc = false
	if err != nil {
		return nil, i.classify(err), err
	}
	reqPtr := uint32(st[0])
	if !i.mem.Write(reqPtr, env) {
		return nil, ReasonBadAlloc, fmt.Errorf("gh_alloc(%d) returned %#x", len(env), reqPtr)
	}
	st[0], st[1] = uint64(reqPtr), uint64(len(env))
	if err := i.hooks[h].CallWithStack(ctx, st); err != nil {
		return nil, i.classify(err), err
	}
	if err := i.logs.exceeded(); err != nil {
		return nil, ReasonLogQuota, err
	}
	ptr, n := uint32(st[0]>>32), uint32(st[0])
	if int64(n) > int64(i.p.limits.MaxResponseBytes) {
		return nil, ReasonResponseTooLarge, fmt.Errorf("%d bytes > %d", n, i.p.limits.MaxResponseBytes)
	}
	view, ok := i.mem.Read(ptr, n)
	if !ok {
		return nil, ReasonOutOfBounds, fmt.Errorf("response at %#x+%d outside %d bytes of memory", ptr, n, i.mem.Size())
	}
	resp := bytes.Clone(view)
	if i.free != nil {
		// Response first, then request: a bump allocator can pop both.
		i.inAlloc = true
		defer func() { i.inAlloc = false }()
		for _, b := range [...][2]uint32{{ptr, n}, {reqPtr, uint32(len(env))}} {
			st[0], st[1] = uint64(b[0]), uint64(b[1])
			if err := i.free.CallWithStack(ctx, st); err != nil {
				return nil, ReasonFree, &freeError{reason: i.classify(err), err: err}
			}
		}
	}
	return resp, "", nil
}

// classify names why a guest call failed: the deadline, the caller giving
// up, proc_exit, memory exhausted (a trap with memory at its cap), or
// another trap (the Failure's Detail has wazero's first line).
func (i *instance) classify(err error) Reason {
	if r := exitReason(err); r != "" {
		return r
	}
	if r := quotaReason(err); r != "" {
		return r
	}
	if i.mem != nil && i.mem.Size()/65536 >= i.p.limits.MemoryPages {
		return ReasonOutOfMemory
	}
	return ReasonTrap
}

// quotaReason names the host's own refusals: re-entry and quotas.
func quotaReason(err error) Reason {
	switch {
	case errors.Is(err, ErrReentry):
		return ReasonReentry
	case errors.Is(err, ErrLogQuota):
		return ReasonLogQuota
	case errors.Is(err, ErrKVQuota):
		return ReasonKVQuota
	}
	return ""
}

func exitReason(err error) Reason {
	var exit *sys.ExitError
	if !errors.As(err, &exit) {
		return ""
	}
	switch exit.ExitCode() {
	case sys.ExitCodeDeadlineExceeded:
		return ReasonTimeout
	case sys.ExitCodeContextCanceled:
		return ReasonCanceled
	default:
		return ReasonExit
	}
}

func (i *instance) close(ctx context.Context) {
	i.p.instances.Delete(i.mod)
	i.stdout.flush()
	i.stderr.flush()
	if i.mod != nil {
		_ = i.mod.Close(ctx)
	}
}
