// Package ttar unpacks procfs's test fixtures (testdata/fixtures.ttar, the format of
// procfs's ttar script), for tests that run on them outside package procuring.
package ttar

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Extract unpacks a ttar archive into dir (directories, files with NULLBYTE/EOF
// escapes, symlinks, modes).
func Extract(archive, dir string) error {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var path string
	lineNo := 0
	next := func() (string, bool) {
		l, err := r.ReadString('\n')
		if err != nil && l == "" {
			return "", false
		}
		lineNo++
		return strings.TrimSuffix(l, "\n"), true
	}
	for {
		line, ok := next()
		if !ok {
			break
		}
		switch {
		case strings.HasPrefix(line, "#"), line == "":
		case strings.HasPrefix(line, "Directory: "):
			path = filepath.Join(dir, strings.TrimPrefix(line, "Directory: "))
			if err := os.MkdirAll(path, 0o755); err != nil {
				return err
			}
		case strings.HasPrefix(line, "Path: "):
			path = filepath.Join(dir, strings.TrimPrefix(line, "Path: "))
			os.RemoveAll(path)
		case strings.HasPrefix(line, "Lines: "):
			var n int
			if _, err := fmt.Sscanf(line, "Lines: %d", &n); err != nil {
				return fmt.Errorf("line %d: %v", lineNo, err)
			}
			var content strings.Builder
			for range n {
				l, ok := next()
				if !ok {
					return fmt.Errorf("line %d: archive ends inside %s", lineNo, path)
				}
				text, newline := unescape(l)
				content.WriteString(text)
				if newline {
					content.WriteByte('\n')
				}
			}
			if err := os.WriteFile(path, []byte(content.String()), 0o644); err != nil {
				return err
			}
		case strings.HasPrefix(line, "Mode: "):
			var mode os.FileMode
			if _, err := fmt.Sscanf(line, "Mode: %o", &mode); err != nil {
				return fmt.Errorf("line %d: %v", lineNo, err)
			}
			if err := os.Chmod(path, mode); err != nil {
				return err
			}
		case strings.HasPrefix(line, "SymlinkTo: "):
			if err := os.Symlink(strings.TrimPrefix(line, "SymlinkTo: "), path); err != nil {
				return err
			}
		default:
			return fmt.Errorf("line %d: unknown keyword: %q", lineNo, line)
		}
	}
	return nil
}

// unescape decodes one content line: NULLBYTE is a NUL and EOF (not at the start) ends
// the file without a newline; a backslash before either keeps it literal.
func unescape(l string) (string, bool) {
	var b strings.Builder
	newline := true
	for i := 0; i < len(l); {
		switch {
		case strings.HasPrefix(l[i:], `\NULLBYTE`):
			b.WriteString("NULLBYTE")
			i += len(`\NULLBYTE`)
		case strings.HasPrefix(l[i:], `\EOF`):
			b.WriteString("EOF")
			i += len(`\EOF`)
		case strings.HasPrefix(l[i:], "NULLBYTE"):
			b.WriteByte(0)
			i += len("NULLBYTE")
		case strings.HasPrefix(l[i:], "EOF") && i > 0:
			newline = false
			i += len("EOF")
		default:
			b.WriteByte(l[i])
			i++
		}
	}
	return b.String(), newline
}
