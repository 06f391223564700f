// Package procfsreader reproduces the calls of Kepler's and process-exporter's /proc
// readers on github.com/prometheus/procfs. procuringreader is this source with the import
// swapped (go generate in ..).
package procuringreader

import procfs "github.com/procuring/procuring/go"

import "github.com/procuring/procuring/go/internal/readers"

// userHZ as Kepler's reader (and procfs) hardcode it.
const userHZ = 100

// Kepler makes the calls of Kepler's procFSReader (NewProcFSReader, AllProcs with
// procWrapper's Comm, Executable, Cgroups (Path), Environ, CmdLine, CPUTime from Stat's
// UTime and STime, and CPUUsageRatio's FS.Stat().CPUTotal) on the proc tree at root.
func Kepler(root string) (readers.KeplerScan, error) {
	fs, err := procfs.NewFS(root)
	if err != nil {
		return readers.KeplerScan{}, err
	}
	return KeplerOn(fs)
}

// KeplerOn is Kepler with an FS made already (Kepler keeps one for its lifetime).
func KeplerOn(fs procfs.FS) (readers.KeplerScan, error) {
	var out readers.KeplerScan
	procs, err := fs.AllProcs()
	if err != nil {
		return out, err
	}
	for _, p := range procs {
		k := readers.KeplerProc{PID: p.PID}
		var e error
		k.Comm, e = p.Comm()
		k.CommErr = readers.Err(e)
		k.Exe, e = p.Executable()
		k.ExeErr = readers.Err(e)
		cgs, e := p.Cgroups()
		k.CgroupsErr = readers.Err(e)
		for _, cg := range cgs {
			k.Cgroups = append(k.Cgroups, cg.Path)
		}
		k.Environ, e = p.Environ()
		k.EnvironErr = readers.Err(e)
		k.CmdLine, e = p.CmdLine()
		k.CmdLineErr = readers.Err(e)
		st, e := p.Stat()
		k.CPUTimeErr = readers.Err(e)
		if e == nil {
			k.CPUTime = float64(st.STime+st.UTime) / userHZ
		}
		out.Procs = append(out.Procs, k)
	}
	stat, err := fs.Stat()
	if err != nil {
		return out, err
	}
	var c procfs.CPUStat = stat.CPUTotal
	out.CPUTotal = [8]float64{c.User, c.Nice, c.System, c.Idle, c.Iowait, c.IRQ, c.SoftIRQ, c.Steal}
	return out, nil
}
