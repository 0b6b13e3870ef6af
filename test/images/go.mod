module github.com/rolechain/rolechain/test/images

go 1.26.0
