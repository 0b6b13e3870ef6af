module github.com/rolechain/rolechain

go 1.26.0
