// checkpoint-store writes a checkpoint image, described by an OCI layout the agent wrote (one uncompressed tar layer,
// the checkpoint archive itself), into the node's containers-storage, and prints its manifest digest.
//
// It does what `skopeo copy --preserve-digests oci:LAYOUT:REF containers-storage:NAME` did, in fewer passes over the
// archive: the layer is extracted straight from the archive into the store under the ID containers/image gives a
// base layer (its diffID's hex), with both of its digests given (the agent computed them in one read), so neither
// store hashes it again and no temporary copy of the blob is written; containers/image's copy then finds that layer,
// reuses it, and writes the image record, manifest and config exactly as skopeo would. See docs/adr/0014.
//
//	checkpoint-store [--root DIR --runroot DIR --driver NAME] digest NAME
//	checkpoint-store [--root DIR --runroot DIR --driver NAME] write LAYOUT REF NAME
//
// digest prints the manifest digest of the image NAME in the store, or nothing when there is none.
// write writes the image REF of the OCI layout directory LAYOUT into the store as NAME (localhost/...) and prints
// its manifest digest; an image already there under NAME is not written again. Exit status 0 and the digest on
// stdout, or 1 (2 for usage) and one line on stderr. Nothing of the archive's content is printed.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/opencontainers/go-digest"
	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
	"go.podman.io/image/v5/copy"
	"go.podman.io/image/v5/manifest"
	"go.podman.io/image/v5/oci/layout"
	"go.podman.io/image/v5/signature"
	storageTransport "go.podman.io/image/v5/storage"
	"go.podman.io/storage"
	"go.podman.io/storage/pkg/reexec"
)

func main() {
	// c/storage extracts layers in a re-executed child of this binary (chrootarchive).
	if reexec.Init() {
		return
	}
	root := flag.String("root", "", "containers-storage graph root (default: the node's storage.conf)")
	runroot := flag.String("runroot", "", "containers-storage run root")
	driver := flag.String("driver", "", "storage driver, e.g. overlay or vfs")
	flag.Parse()
	args := flag.Args()
	var d digest.Digest
	var err error
	switch {
	case len(args) == 2 && args[0] == "digest":
		d, err = withStore(*root, *runroot, *driver, func(store storage.Store) (digest.Digest, error) {
			return imageDigest(store, args[1])
		})
		if errors.Is(err, storage.ErrImageUnknown) {
			return
		}
	case len(args) == 4 && args[0] == "write":
		d, err = withStore(*root, *runroot, *driver, func(store storage.Store) (digest.Digest, error) {
			return write(store, args[1], args[2], args[3])
		})
	default:
		fmt.Fprintln(os.Stderr, "usage: checkpoint-store [--root DIR --runroot DIR --driver NAME] digest NAME | write LAYOUT REF NAME")
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "checkpoint-store: %v\n", err)
		os.Exit(1)
	}
	fmt.Println(d)
}

// storeOptions mirrors containers/image's containers-storage:[driver@root+runroot] (storeForSpec): with a root, only
// what is given; without one, the node's defaults (storage.conf) with the driver, if given, over them, as buildah's
// --storage-driver does: the agent reads the same store with buildah, so both must open the same driver.
func storeOptions(root, runroot, driver string) (storage.StoreOptions, error) {
	if root == "" {
		opts, err := storage.DefaultStoreOptions()
		if err == nil && driver != "" {
			opts.GraphDriverName = driver
		}
		return opts, err
	}
	return storage.StoreOptions{GraphDriverName: driver, GraphRoot: root, RunRoot: runroot}, nil
}

func withStore(root, runroot, driver string, f func(storage.Store) (digest.Digest, error)) (digest.Digest, error) {
	opts, err := storeOptions(root, runroot, driver)
	if err != nil {
		return "", fmt.Errorf("reading the storage configuration: %w", err)
	}
	store, err := storage.GetStore(opts)
	if err != nil {
		return "", fmt.Errorf("opening containers-storage: %w", err)
	}
	defer func() { _, _ = store.Shutdown(false) }()
	return f(store)
}

// imageDigest is the manifest digest of the image NAME, or an error wrapping storage.ErrImageUnknown.
func imageDigest(store storage.Store, name string) (digest.Digest, error) {
	img, err := store.Image(name)
	if err != nil {
		return "", fmt.Errorf("looking up %s: %w", name, err)
	}
	return img.Digest, nil
}

func write(store storage.Store, layoutDir, ref, name string) (digest.Digest, error) {
	if d, err := imageDigest(store, name); err == nil {
		return d, nil
	} else if !errors.Is(err, storage.ErrImageUnknown) {
		return "", err
	}

	layer, err := checkpointLayer(layoutDir, ref)
	if err != nil {
		return "", err
	}
	if err := putLayer(store, layoutDir, layer); err != nil {
		return "", err
	}

	src, err := layout.NewReference(layoutDir, ref)
	if err != nil {
		return "", fmt.Errorf("reading the layout: %w", err)
	}
	dest, err := storageTransport.Transport.ParseStoreReference(store, name)
	if err != nil {
		return "", fmt.Errorf("image name %s: %w", name, err)
	}
	// The source is the agent's own layout on the node, written a moment ago: no signatures to check.
	policy, err := signature.NewPolicyContext(&signature.Policy{
		Default: []signature.PolicyRequirement{signature.NewPRInsecureAcceptAnything()},
	})
	if err != nil {
		return "", err
	}
	defer func() { _ = policy.Destroy() }()
	m, err := copy.Image(context.Background(), policy, dest, src, &copy.Options{
		PreserveDigests: true,
		ReportWriter:    io.Discard,
	})
	if err != nil {
		return "", fmt.Errorf("writing the image %s: %w", name, err)
	}
	return manifest.Digest(m)
}

// checkpointLayer is the one layer of the layout's image REF: an uncompressed tar, as the agent writes it.
func checkpointLayer(layoutDir, ref string) (imgspecv1.Descriptor, error) {
	var index imgspecv1.Index
	if err := readJSON(layoutDir+"/index.json", &index); err != nil {
		return imgspecv1.Descriptor{}, fmt.Errorf("reading the layout's index: %w", err)
	}
	for _, desc := range index.Manifests {
		if desc.Annotations[imgspecv1.AnnotationRefName] != ref {
			continue
		}
		var m imgspecv1.Manifest
		if err := readJSON(blobPath(layoutDir, desc.Digest), &m); err != nil {
			return imgspecv1.Descriptor{}, fmt.Errorf("reading the manifest: %w", err)
		}
		return singleTarLayer(m)
	}
	return imgspecv1.Descriptor{}, fmt.Errorf("the layout has no image %s", ref)
}

// singleTarLayer accepts the agent's image shape only: one uncompressed tar layer with a sha256 digest.
func singleTarLayer(m imgspecv1.Manifest) (imgspecv1.Descriptor, error) {
	if len(m.Layers) != 1 {
		return imgspecv1.Descriptor{}, fmt.Errorf("a checkpoint image has one layer, this one %d", len(m.Layers))
	}
	l := m.Layers[0]
	if l.MediaType != imgspecv1.MediaTypeImageLayer {
		return imgspecv1.Descriptor{}, fmt.Errorf("the layer is %s, not an uncompressed tar", l.MediaType)
	}
	if l.Digest.Algorithm() != digest.SHA256 || l.Digest.Validate() != nil {
		return imgspecv1.Descriptor{}, fmt.Errorf("the layer's digest is not a valid sha256")
	}
	return l, nil
}

// putLayer extracts the layer into the store under the ID containers/image gives a base layer (its diffID's hex,
// storage_dest.go layerID), unless a layer of that ID is there already (an earlier run that stopped before the
// image was written). Both digests are given: for an uncompressed tar they are the same, and the agent computed it.
func putLayer(store storage.Store, layoutDir string, l imgspecv1.Descriptor) error {
	id := l.Digest.Encoded()
	if _, err := store.Layer(id); err == nil {
		return nil
	} else if !errors.Is(err, storage.ErrLayerUnknown) {
		return fmt.Errorf("looking up layer %s: %w", id, err)
	}
	f, err := os.Open(blobPath(layoutDir, l.Digest))
	if err != nil {
		return fmt.Errorf("opening the layer: %w", err)
	}
	defer f.Close()
	size := l.Size
	_, _, err = store.PutLayer(id, "", nil, "", false, &storage.LayerOptions{
		OriginalDigest:     l.Digest,
		OriginalSize:       &size,
		UncompressedDigest: l.Digest,
	}, f)
	if err != nil && !errors.Is(err, storage.ErrDuplicateID) {
		return fmt.Errorf("writing layer %s: %w", id, err)
	}
	return nil
}

func blobPath(layoutDir string, d digest.Digest) string {
	return layoutDir + "/blobs/" + d.Algorithm().String() + "/" + d.Encoded()
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
