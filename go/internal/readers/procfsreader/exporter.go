//lint:file-ignore SA1019 process-exporter's calls are reproduced exactly, deprecated ones included.

package procfsreader

import "github.com/prometheus/procfs"

import (
	"path/filepath"
	"strconv"

	"github.com/procuring/procuring/go/internal/readers"
)

// Exporter makes the calls of process-exporter's proc package for one scrape with threads
// and smaps: NewFS (procfs.NewFS, FS.NewStat's BootTime), FS.AllProcs, and per process
// Proc.NewStat, NewStatus, Cgroups, CmdLine, Wchan, IO, FileDescriptorsLen, NewLimits,
// ProcSMapsRollup, then its threads through procfs.NewFS(<mount>/<pid>/task) and that
// FS's AllProcs with the same calls (but limits, fds and smaps, which GetThreads skips).
func Exporter(mountPoint string, threads bool) (readers.ExporterScan, error) {
	fs, err := procfs.NewFS(mountPoint)
	if err != nil {
		return readers.ExporterScan{}, err
	}
	return ExporterOn(fs, mountPoint, threads)
}

// ExporterOn is one scrape of Exporter with the FS made already (process-exporter makes
// one at start and a thread FS per process per scrape).
func ExporterOn(fs procfs.FS, mountPoint string, threads bool) (readers.ExporterScan, error) {
	var out readers.ExporterScan
	stat, err := fs.NewStat()
	if err != nil {
		return out, err
	}
	out.BootTime = stat.BootTime
	procs, err := fs.AllProcs()
	if err != nil {
		return out, err
	}
	for _, p := range procs {
		e := exporterProc(p, true)
		if threads {
			tfs, err := procfs.NewFS(filepath.Join(mountPoint, strconv.Itoa(p.PID), "task"))
			e.ThreadFSErr = readers.Err(err)
			if err == nil {
				ts, err := tfs.AllProcs()
				e.ThreadsErr = readers.Err(err)
				for _, t := range ts {
					e.Threads = append(e.Threads, exporterProc(t, false))
				}
			}
		}
		out.Procs = append(out.Procs, e)
	}
	return out, nil
}

func exporterProc(p procfs.Proc, metrics bool) readers.ExporterProc {
	e := readers.ExporterProc{PID: p.PID}
	var st procfs.ProcStat
	st, err := p.NewStat()
	e.StatErr = readers.Err(err)
	if err == nil {
		e.Comm, e.PPID, e.State, e.StartTime = st.Comm, st.PPID, st.State, st.Starttime
		e.UTime, e.STime, e.MajFlt, e.MinFlt = uint64(st.UTime), uint64(st.STime), uint64(st.MajFlt), uint64(st.MinFlt)
		e.NumThreads, e.RSS, e.VSize = st.NumThreads, st.ResidentMemory(), st.VirtualMemory()
	}
	status, err := p.NewStatus()
	e.StatusErr = readers.Err(err)
	if err == nil {
		e.UID, e.VmSwap = status.UIDs[1], status.VmSwap
		e.CtxVol, e.CtxNonvol = status.VoluntaryCtxtSwitches, status.NonVoluntaryCtxtSwitches
	}
	cgs, err := p.Cgroups()
	e.CgroupsErr = readers.Err(err)
	for _, c := range cgs {
		e.Cgroups = append(e.Cgroups, c.Path)
	}
	e.CmdLine, err = p.CmdLine()
	e.CmdLineErr = readers.Err(err)
	e.Wchan, err = p.Wchan()
	e.WchanErr = readers.Err(err)
	var io procfs.ProcIO
	io, err = p.IO()
	e.IOErr = readers.Err(err)
	e.ReadBytes, e.WriteBytes = io.ReadBytes, io.WriteBytes
	if !metrics {
		return e
	}
	e.NumFDs, err = p.FileDescriptorsLen()
	e.FDErr = readers.Err(err)
	var limits procfs.ProcLimits
	limits, err = p.NewLimits()
	e.LimitsErr = readers.Err(err)
	e.OpenFiles = limits.OpenFiles
	var sm procfs.ProcSMapsRollup
	sm, err = p.ProcSMapsRollup()
	e.SMapsErr = readers.Err(err)
	e.Pss, e.SwapPss = sm.Pss, sm.SwapPss
	return e
}
