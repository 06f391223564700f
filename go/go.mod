module github.com/procuring/procuring/go

go 1.24.0

require (
	github.com/prometheus/procfs v0.19.2
	golang.org/x/sys v0.37.0
)
