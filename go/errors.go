package procuring

// parseErr is the error of p's file f, which the library found malformed. Such a file never
// comes from a kernel; procfs reads it again to return the error procfs returns for it, of
// the same kind (procfs wraps ErrFileParse for a stat without a comm or a cgroup line
// without its fields, and returns a plain strconv, fmt or "could not parse" error for the
// rest). Where procfs accepts the file (its parsers are laxer: "12x kB", a hexadecimal
// stat field, a status without Name), the error wraps ErrFileParse: this package never
// returns a value other than the file's.
func (p Proc) parseErr(f File) error {
	pp := p.Procfs()
	var err error
	switch f {
	case FileStat:
		_, err = pp.Stat()
	case FileStatus:
		_, err = pp.NewStatus()
	case FileIO:
		_, err = pp.IO()
	case FileSchedstat:
		_, err = pp.Schedstat()
	case FileCgroup:
		_, err = pp.Cgroups()
	}
	if err != nil {
		return err
	}
	return codeErr(p.path(f), f, codeParse)
}
