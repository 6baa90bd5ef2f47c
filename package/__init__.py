"""The package format that fleet and agent share: the signed archive, keys and signatures, names and
versions, the device manifest, the host library, and loading a package's library."""
