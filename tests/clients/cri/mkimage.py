#!/usr/bin/env python3
"""Write an OCI image archive (for `ctr images import`) from a rootfs tar, without a registry.

usage: mkimage.py ROOTFS.TAR OUT.TAR NAME=ENTRYPOINT_JSON=CMD_JSON [...]
e.g.   mkimage.py rootfs.tar images.tar 'localhost/bb:latest=[]=["/bin/sh"]' \
           'localhost/pause:latest=["/bin/sleep","2147483647"]=[]'

Every image has the one layer (uncompressed); each gets its own config and manifest, and the
archive's index names them with the annotations containerd's importer reads.
"""
import hashlib
import io
import json
import sys
import tarfile


def main():
    rootfs, out, *specs = sys.argv[1:]
    blobs = {}

    def add(data, media_type):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    with open(rootfs, "rb") as f:
        layer = f.read()
    layer_desc = add(layer, "application/vnd.oci.image.layer.v1.tar")
    manifests = []
    for spec in specs:
        name, entrypoint, cmd = spec.split("=", 2)
        config = {
            "architecture": "amd64",
            "os": "linux",
            "config": {
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                "Entrypoint": json.loads(entrypoint) or None,
                "Cmd": json.loads(cmd) or None,
                "WorkingDir": "/",
            },
            "rootfs": {"type": "layers", "diff_ids": [layer_desc["digest"]]},
            "history": [{"created_by": "hull tests/clients/cri/mkimage.py"}],
        }
        config_desc = add(json.dumps(config).encode(), "application/vnd.oci.image.config.v1+json")
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config_desc,
            "layers": [layer_desc],
        }
        desc = add(json.dumps(manifest).encode(), "application/vnd.oci.image.manifest.v1+json")
        desc["annotations"] = {
            "io.containerd.image.name": name,
            "org.opencontainers.image.ref.name": name,
        }
        desc["platform"] = {"architecture": "amd64", "os": "linux"}
        manifests.append(desc)
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": manifests}

    with tarfile.open(out, "w") as tar:
        def put(path, data):
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
        put("oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())
        put("index.json", json.dumps(index).encode())
        for digest, data in blobs.items():
            put("blobs/sha256/" + digest.split(":", 1)[1], data)


if __name__ == "__main__":
    main()
