// Package readers holds the results of two collectors' /proc readers, reproduced call for
// call: Kepler's internal/resource/procfs_reader.go and process-exporter's proc/read.go.
//
// The readers are written once, in procfsreader (importing github.com/prometheus/procfs);
// procuringreader is the same source with only the import swapped to this module's package
// (`go generate` here; readers_test.go fails when the copy differs). The test runs both on
// procfs's fixtures and on the live /proc and compares the results.
package readers

//go:generate sh -c "for f in kepler.go exporter.go; do sed -e 's#^import \"github.com/prometheus/procfs\"#import procfs \"github.com/procuring/procuring/go\"#' -e 's#^package procfsreader#package procuringreader#' procfsreader/$DOLLAR{f} > procuringreader/$DOLLAR{f}; done"

// KeplerProc is what Kepler's procWrapper answers for one process.
type KeplerProc struct {
	PID        int
	Comm       string
	CommErr    string
	Exe        string
	ExeErr     string
	Cgroups    []string // Cgroup.Path of each line
	CgroupsErr string
	Environ    []string
	EnvironErr string
	CmdLine    []string
	CmdLineErr string
	CPUTime    float64
	CPUTimeErr string
}

// KeplerScan is one refresh: AllProcs and every process's answers, and FS.Stat's CPUTotal.
type KeplerScan struct {
	Procs    []KeplerProc
	CPUTotal [8]float64 // User, Nice, System, Idle, Iowait, IRQ, SoftIRQ, Steal
}

// ExporterProc is what process-exporter's proc reads of one process (or thread).
type ExporterProc struct {
	PID         int
	Comm        string
	PPID        int
	State       string
	StartTime   uint64
	UTime       uint64
	STime       uint64
	MajFlt      uint64
	MinFlt      uint64
	NumThreads  int
	RSS         int
	VSize       uint
	StatErr     string
	UID         uint64
	VmSwap      uint64
	CtxVol      uint64
	CtxNonvol   uint64
	StatusErr   string
	Cgroups     []string
	CgroupsErr  string
	CmdLine     []string
	CmdLineErr  string
	Wchan       string
	WchanErr    string
	ReadBytes   uint64
	WriteBytes  uint64
	IOErr       string
	NumFDs      int
	FDErr       string
	OpenFiles   uint64
	LimitsErr   string
	Pss         uint64
	SwapPss     uint64
	SMapsErr    string
	Threads     []ExporterProc
	ThreadsErr  string
	ThreadFSErr string
}

// ExporterScan is one scrape.
type ExporterScan struct {
	BootTime uint64
	Procs    []ExporterProc
}

// Err is the text of err ("" for nil).
func Err(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
