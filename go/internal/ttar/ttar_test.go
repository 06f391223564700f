package ttar

import "testing"

func TestUnescape(t *testing.T) {
	for _, c := range []struct {
		in, want string
		newline  bool
	}{
		{`aNULLBYTEb\NULLBYTEcEOF`, "a\x00bNULLBYTEc", false},
		{`EOF\EOF`, "EOFEOF", true},
		{"plain", "plain", true},
	} {
		if got, nl := unescape(c.in); got != c.want || nl != c.newline {
			t.Errorf("unescape(%q) = %q, %v; want %q, %v", c.in, got, nl, c.want, c.newline)
		}
	}
}
