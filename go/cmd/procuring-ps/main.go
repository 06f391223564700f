// Command procuring-ps prints a ps-like table of this machine through the procuring Go
// package, then the time of a scan (AllProcs, then Stat, Comm and CmdLine of every
// process) with each engine against github.com/prometheus/procfs on the same machine.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	procuring "github.com/procuring/procuring/go"
	"github.com/prometheus/procfs"
)

func main() {
	rounds := flag.Int("rounds", 7, "scans per engine for the timing (median)")
	width := flag.Int("width", 60, "cmdline column width")
	noTable := flag.Bool("no-table", false, "only the timing lines")
	flag.Parse()

	fs, err := procuring.NewDefaultFS()
	if err != nil {
		fmt.Fprintln(os.Stderr, "procuring-ps:", err)
		os.Exit(1)
	}
	defer fs.Close()
	if !*noTable {
		if err := table(fs, *width); err != nil {
			fmt.Fprintln(os.Stderr, "procuring-ps:", err)
			os.Exit(1)
		}
	}

	base, n, err := timeProcfs(*rounds)
	if err != nil {
		fmt.Fprintln(os.Stderr, "procuring-ps: procfs:", err)
		os.Exit(1)
	}
	name, reason := fs.Engine()
	fmt.Printf("\ndefault engine: %s (%s)\n", name, reason)
	fmt.Printf("scan = AllProcs + Stat + Comm + CmdLine of %d processes, median of %d:\n", n, *rounds)
	fmt.Printf("  %-32s %10s\n", "prometheus/procfs", base.Round(time.Microsecond))
	runs := []struct {
		label string
		opts  procuring.Options
	}{
		{"procuring uring", procuring.Options{Engine: procuring.EngineURing}},
		{"procuring sync", procuring.Options{Engine: procuring.EngineSync}},
		{"procuring sync, ReuseIdleStat", procuring.Options{Engine: procuring.EngineSync, ReuseIdleStat: true}},
		{"procuring procfs (fallback)", procuring.Options{Engine: procuring.EngineProcfs}},
	}
	for _, r := range runs {
		d, why, err := timeOurs(r.opts, *rounds)
		if err != nil {
			fmt.Printf("  %-32s %10s  (%v)\n", r.label, "n/a", err)
			continue
		}
		fmt.Printf("  %-32s %10s  %5.1fx faster than procfs  (%s)\n", r.label,
			d.Round(time.Microsecond), float64(base)/float64(d), why)
	}
}

// table prints PID, STATE, THREADS, RSS, CPU seconds, COMM and CMDLINE of every process.
func table(fs procuring.FS, width int) error {
	ps, err := fs.AllProcs()
	if err != nil {
		return err
	}
	w := bufio.NewWriter(os.Stdout)
	fmt.Fprintf(w, "%7s %5s %7s %7s %9s  %-16s %s\n", "PID", "STATE", "THREADS", "RSS", "CPU(s)", "COMM", "CMDLINE")
	for _, p := range ps {
		st, err := p.Stat()
		if err != nil {
			continue // exited since the listing
		}
		comm, _ := p.Comm()
		cmd := "[" + comm + "]" // kernel threads and zombies have no command line
		if args, err := p.CmdLine(); err == nil && len(args) > 0 {
			cmd = strings.Join(args, " ")
		}
		fmt.Fprintf(w, "%7d %5s %7d %7s %9.2f  %-16s %s\n", p.PID, st.State, st.NumThreads,
			size(st.ResidentMemory()), st.CPUTime(), printable(comm, 16), printable(cmd, width))
	}
	return w.Flush()
}

func size(b int) string {
	switch {
	case b >= 10<<30:
		return fmt.Sprintf("%dG", b>>30)
	case b >= 10<<20:
		return fmt.Sprintf("%dM", b>>20)
	default:
		return fmt.Sprintf("%dK", b>>10)
	}
}

// printable escapes control characters (a comm may hold a newline) and truncates.
func printable(s string, max int) string {
	var b strings.Builder
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			fmt.Fprintf(&b, "\\x%02x", r)
		} else {
			b.WriteRune(r)
		}
	}
	out := []rune(b.String())
	if max > 1 && len(out) > max {
		return string(out[:max-1]) + "…"
	}
	return string(out)
}

func median(d []time.Duration) time.Duration {
	slices.Sort(d)
	return d[len(d)/2]
}

func timeProcfs(rounds int) (time.Duration, int, error) {
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return 0, 0, err
	}
	var times []time.Duration
	n := 0
	for range rounds + 1 {
		t0 := time.Now()
		ps, err := fs.AllProcs()
		if err != nil {
			return 0, 0, err
		}
		for _, p := range ps {
			if _, err := p.Stat(); err != nil {
				continue
			}
			p.Comm()
			p.CmdLine()
		}
		times = append(times, time.Since(t0))
		n = len(ps)
	}
	return median(times[1:]), n, nil
}

// timeOurs times the scan on one FS with opts (the first two scans not counted: the cold
// one, and the one where ReuseIdleStat learns; steady state, as a collector sees it).
func timeOurs(opts procuring.Options, rounds int) (time.Duration, string, error) {
	fs, err := procuring.NewFSWithOptions(procuring.DefaultMountPoint, opts)
	if err != nil {
		return 0, "", err
	}
	defer fs.Close()
	_, reason := fs.Engine()
	var times []time.Duration
	for range rounds + 2 {
		t0 := time.Now()
		ps, err := fs.AllProcs()
		if err != nil {
			return 0, "", err
		}
		for _, p := range ps {
			if _, err := p.Stat(); err != nil {
				continue
			}
			p.Comm()
			p.CmdLine()
		}
		times = append(times, time.Since(t0))
	}
	return median(times[2:]), reason, nil
}
