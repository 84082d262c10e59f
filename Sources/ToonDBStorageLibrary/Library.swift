// The `toondb_storage` dynamic library (libtoondb_storage.so): the C ABI implemented in
// ToonDBEmbedded, linked with the Swift runtime inside and only `toondb_*` symbols exported
// (see exports.map and Package.swift).
@_exported import ToonDBEmbedded
