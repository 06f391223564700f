package procuring

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/prometheus/procfs"
)

// TestMain runs the helper modes of the test binary (child processes of the tests) and
// then the tests; whatever happens, the children spawned for tests and benchmarks are
// killed and reaped.
func TestMain(m *testing.M) {
	if childMode() {
		return
	}
	code := m.Run()
	stopBenchChildren()
	if fixtures.dir != "" {
		os.RemoveAll(fixtures.dir)
	}
	os.Exit(code)
}

// engines are the engines the differential tests run: the library's two with cgo, only
// procfs without.
func engines() []string {
	if cgoEnabled {
		return []string{EngineURing, EngineSync}
	}
	return []string{EngineProcfs}
}

// liveEngines are the engines of the differential tests on /proc: engines(), and bpf when
// it can load here (root, or CAP_BPF + CAP_PERFMON; it reads only the live /proc, not the
// directory trees of the crafted and fixture tests). Without it the bpf cases are left out
// (TestBPFAvailable says why).
func liveEngines() []string {
	if _, err := bpfAvailable(); err != nil {
		return engines()
	}
	return append(engines(), EngineBPF)
}

// bpfAvailable reports whether the bpf engine loads on /proc (the error says why not).
var bpfAvailable = sync.OnceValues(func() (bool, error) {
	fs, err := NewFSWithOptions("/proc", Options{Engine: EngineBPF})
	if err != nil {
		return false, err
	}
	fs.Close()
	return true, nil
})

func mustFS(t testing.TB, root, engine string) FS {
	t.Helper()
	fs, err := NewFSWithOptions(root, Options{Engine: engine})
	if err != nil {
		t.Fatalf("NewFS(%q, %s): %v", root, engine, err)
	}
	if name, reason := fs.Engine(); name != engine {
		t.Fatalf("engine %q, want %q (%s)", name, engine, reason)
	}
	t.Cleanup(func() { fs.Close() })
	return fs
}

// errKind classifies an error the way callers of procfs test it.
func errKind(err error) string {
	if err == nil {
		return "nil"
	}
	var pe *fs.PathError
	var errno syscall.Errno
	switch {
	case os.IsNotExist(err):
		return "notexist"
	case os.IsPermission(err):
		return "permission"
	case errors.As(err, &errno):
		return "errno:" + errno.Error()
	case errors.As(err, &pe):
		return "path:" + pe.Err.Error()
	default:
		return "other"
	}
}

// Fields of a live process that move between two reads: counters (never decrease) and
// gauges (go either way).
var counters = map[string]bool{
	"MinFlt": true, "CMinFlt": true, "MajFlt": true, "CMajFlt": true, "UTime": true, "STime": true,
	"CUTime": true, "CSTime": true, "DelayAcctBlkIOTicks": true, "GuestTime": true, "CGuestTime": true,
	"VoluntaryCtxtSwitches": true, "NonVoluntaryCtxtSwitches": true,
	"RChar": true, "WChar": true, "SyscR": true, "SyscW": true, "ReadBytes": true, "WriteBytes": true,
	"CancelledWriteBytes": true,
}

var gauges = map[string]bool{
	"State": true, "Flags": true, "Priority": true, "Nice": true, "NumThreads": true, "VSize": true,
	"RSS": true, "Processor": true, "TPGID": true,
	"VmPeak": true, "VmSize": true, "VmLck": true, "VmPin": true, "VmHWM": true, "VmRSS": true,
	"RssAnon": true, "RssFile": true, "RssShmem": true, "VmData": true, "VmStk": true, "VmExe": true,
	"VmLib": true, "VmPTE": true, "VmPMD": true, "VmSwap": true, "HugetlbPages": true,
}

// How strictly diffProc compares the fields that move.
type tolerance int

const (
	tolerant tolerance = iota // ours read first: counters <= procfs's, gauges not compared
	exact                     // idle process: everything equal
	moving                    // this very process: counters and gauges not compared
)

// compareFields compares the exported fields of got and want that have the same name
// (want's type may be procfs's); counters and gauges per tol.
func compareFields(got, want any, tol tolerance) []string {
	gv, wv := reflect.ValueOf(got), reflect.ValueOf(want)
	var diffs []string
	n := 0
	for i := range wv.NumField() {
		f := wv.Type().Field(i)
		if !f.IsExported() {
			continue
		}
		g := gv.FieldByName(f.Name)
		if !g.IsValid() {
			diffs = append(diffs, "missing field "+f.Name)
			continue
		}
		n++
		w := wv.Field(i)
		if reflect.DeepEqual(g.Interface(), w.Interface()) {
			continue
		}
		if tol != exact && gauges[f.Name] {
			continue
		}
		if tol == moving && counters[f.Name] {
			continue
		}
		if tol == tolerant && counters[f.Name] {
			if a, ok := num(g); ok {
				if b, ok := num(w); ok && a <= b {
					continue
				}
			}
		}
		diffs = append(diffs, fmt.Sprintf("%s: got %#v, want %#v", f.Name, g.Interface(), w.Interface()))
	}
	// every exported field of ours must exist in want too
	for i := range gv.NumField() {
		f := gv.Type().Field(i)
		if f.IsExported() && !wv.FieldByName(f.Name).IsValid() {
			diffs = append(diffs, "extra field "+f.Name)
		}
	}
	return diffs
}

func num(v reflect.Value) (float64, bool) {
	switch v.Kind() {
	case reflect.Int, reflect.Int64, reflect.Int32:
		return float64(v.Int()), true
	case reflect.Uint, reflect.Uint64, reflect.Uint32:
		return float64(v.Uint()), true
	}
	return 0, false
}

// diffProc compares every method of ours with procfs's for one process (counters per
// tol). It returns the differences and whether the process was seen gone by either side
// (then differences do not count).
func diffProc(ours Proc, theirs procfs.Proc, tol tolerance) (diffs []string, gone bool) {
	if ours.PID == os.Getpid() {
		tol = moving
	}
	add := func(what string, err1, err2 error) bool {
		k1, k2 := errKind(err1), errKind(err2)
		if k1 == "notexist" || k2 == "notexist" {
			if k1 != k2 {
				gone = true
			}
		}
		if k1 != k2 {
			diffs = append(diffs, fmt.Sprintf("%s: error %v (%s), procfs %v (%s)", what, err1, k1, err2, k2))
			return false
		}
		return err1 == nil
	}
	{
		a, e1 := ours.Stat()
		b, e2 := theirs.Stat()
		if add("Stat", e1, e2) {
			kworker := strings.HasPrefix(b.Comm, "kworker/") && tol != exact
			for _, d := range compareFields(a, b, tol) {
				if kworker && strings.HasPrefix(d, "Comm:") {
					continue // workqueue workers rename themselves as they take work
				}
				diffs = append(diffs, "Stat."+d)
			}
			if a.PID != ours.PID {
				diffs = append(diffs, "Stat.PID")
			}
			t1, e1 := a.StartTime()
			t2, e2 := b.StartTime()
			if add("StartTime", e1, e2) && t1 != t2 {
				diffs = append(diffs, fmt.Sprintf("StartTime %v != %v", t1, t2))
			}
			switch {
			case tol == exact:
				if a.CPUTime() != b.CPUTime() || a.ResidentMemory() != b.ResidentMemory() || a.VirtualMemory() != b.VirtualMemory() {
					diffs = append(diffs, fmt.Sprintf("CPUTime/ResidentMemory/VirtualMemory %v %v %v != %v %v %v",
						a.CPUTime(), a.ResidentMemory(), a.VirtualMemory(), b.CPUTime(), b.ResidentMemory(), b.VirtualMemory()))
				}
			case tol == tolerant:
				if a.CPUTime() > b.CPUTime() {
					diffs = append(diffs, fmt.Sprintf("CPUTime %v > %v", a.CPUTime(), b.CPUTime()))
				}
			}
		}
	}
	{
		a, e1 := ours.NewStatus()
		b, e2 := theirs.NewStatus()
		if add("NewStatus", e1, e2) {
			kworker := strings.HasPrefix(b.Name, "kworker/") && tol != exact
			for _, d := range compareFields(a, b, tol) {
				if kworker && strings.HasPrefix(d, "Name:") {
					continue
				}
				diffs = append(diffs, "Status."+d)
			}
		}
	}
	{
		a, e1 := ours.IO()
		b, e2 := theirs.IO()
		if add("IO", e1, e2) {
			for _, d := range compareFields(a, b, tol) {
				diffs = append(diffs, "IO."+d)
			}
		}
	}
	{
		a, e1 := ours.Schedstat()
		b, e2 := theirs.Schedstat()
		if add("Schedstat", e1, e2) {
			switch tol {
			case exact:
				if a != b {
					diffs = append(diffs, fmt.Sprintf("Schedstat %+v != %+v", a, b))
				}
			case tolerant:
				if a.RunningNanoseconds > b.RunningNanoseconds || a.RunTimeslices > b.RunTimeslices {
					diffs = append(diffs, fmt.Sprintf("Schedstat %+v later than %+v", a, b))
				}
			}
		}
	}
	cmpv := func(what string, a, b any, e1, e2 error) {
		if add(what, e1, e2) || errKind(e1) == errKind(e2) {
			if !reflect.DeepEqual(a, b) {
				diffs = append(diffs, fmt.Sprintf("%s: got %q, procfs %q", what, a, b))
			}
		}
	}
	a1, e1 := ours.Comm()
	b1, e2 := theirs.Comm()
	if !(strings.HasPrefix(b1, "kworker/") && tol != exact) {
		cmpv("Comm", a1, b1, e1, e2)
	}
	a2, e1 := ours.CmdLine()
	b2, e2 := theirs.CmdLine()
	cmpv("CmdLine", a2, b2, e1, e2)
	a3, e1 := ours.Executable()
	b3, e2 := theirs.Executable()
	cmpv("Executable", a3, b3, e1, e2)
	a4, e1 := ours.Cgroups()
	b4, e2 := theirs.Cgroups()
	if add("Cgroups", e1, e2) && !reflect.DeepEqual(a4, b4) {
		diffs = append(diffs, fmt.Sprintf("Cgroups: got %+v, procfs %+v", a4, b4))
	}
	a5, e1 := ours.Environ()
	b5, e2 := theirs.Environ()
	cmpv("Environ", a5, b5, e1, e2)
	return diffs, gone
}

// fingerprint is what identifies a process beyond its pid, read directly: the identity
// files and the stable parts of stat and status. A process whose fingerprint changed
// while a test compared it (exec, reparenting, setuid, setproctitle...) is not compared.
func fingerprint(pid int) string {
	dir := fmt.Sprintf("/proc/%d/", pid)
	var b strings.Builder
	for _, f := range []string{"comm", "cmdline", "environ", "cgroup"} {
		data, err := os.ReadFile(dir + f)
		fmt.Fprintf(&b, "%s=%q %v\n", f, data, err)
	}
	exe, err := os.Readlink(dir + "exe")
	fmt.Fprintf(&b, "exe=%q %v\n", exe, err)
	if data, err := os.ReadFile(dir + "stat"); err == nil {
		s := string(data)
		if r := strings.LastIndexByte(s, ')'); r >= 0 {
			f := strings.Fields(s[r+1:])
			for _, n := range []int{4, 5, 6, 7, 25, 26, 27, 28, 40, 41} {
				if n-3 < len(f) {
					b.WriteString(f[n-3] + " ")
				}
			}
		}
	}
	if data, err := os.ReadFile(dir + "status"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			for _, k := range []string{"Tgid:", "Uid:", "Gid:", "NSpid:", "Cpus_allowed_list:", "Cap"} {
				if strings.HasPrefix(l, k) {
					b.WriteString(l + "\n")
				}
			}
		}
	}
	return b.String()
}

// procfsModuleDir is the directory of github.com/prometheus/procfs in the module cache.
func procfsModuleDir(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/prometheus/procfs").Output()
	if err != nil {
		t.Skipf("go list -m github.com/prometheus/procfs: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// startChild starts name with args, killed when this process dies (Pdeathsig) and at the end
// of the test (a test may kill and reap it earlier); the test is skipped if it cannot start.
func startChild(t testing.TB, name string, args ...string) *exec.Cmd {
	t.Helper()
	c := exec.Command(name, args...)
	c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := c.Start(); err != nil {
		t.Skip(err)
	}
	t.Cleanup(func() {
		c.Process.Kill()
		c.Wait()
	})
	return c
}
