"""The parts of the benchmark report (`scripts/bench_report.py`), each readable and changeable alone:

  common     paths of the tree, logging, small /proc readers
  machine    machine facts for the report, and whether N more processes fit
  spawn      starting processes: the idle children, raised limits, logged commands, Go's cgo env
  criterion  running the criterion benches (`cargo bench --bench scan`)
  gobench    running the Go benchmarks (`go test -bench`)
  bpfbench   running the bpf engine's bench (`cargo bench --bench bpf`) and reading its JSON lines
  parse      reading their output: criterion's estimates.json + procuring-summary.json, go test lines
  data       the saved results, and what is computed from them (per process, per scan, floors)
  fmt        number formats and the Markdown table
  ratios     what is compared: ratio table, linearity, io_uring verdict, consistency checks, headline
  bpfreport  the bpf engine in the report: issue #13's targets, its ratio rows and section
  markdown   rendering docs/BENCHMARKS.md (each group's tables, the page's text)
  plot       docs/scan_cpu.png with matplotlib, else with tinypng (a built-in PNG writer)
"""
