package registry_test

import (
	"github.com/swarmdns/swarmdns/registry"
	"github.com/swarmdns/swarmdns/registry/file"
)

func init() { registry.SetFileParser(file.Parse) }
