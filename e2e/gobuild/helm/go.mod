// Wrapper module: builds the helm CLI from the Go module proxy (no prebuilt binary download), as e2e/gobuild/karmada.
module stateful-migration/e2e/gobuild/helm

go 1.26.0

require helm.sh/helm/v3 v3.22.0 // indirect
