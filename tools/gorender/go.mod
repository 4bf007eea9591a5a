module berth.dev/gorender

go 1.22
