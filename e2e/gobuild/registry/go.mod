// Wrapper module: builds the container registry (CNCF distribution) from its Go module with this machine's Go.
module stateful-migration/e2e/gobuild/registry

go 1.26.0

require (
	github.com/distribution/distribution/v3 v3.1.2 // indirect
	github.com/distribution/reference v0.6.0 // indirect
	github.com/opencontainers/go-digest v1.0.0 // indirect
	github.com/opencontainers/image-spec v1.1.1 // indirect
)
