// swift-tools-version: 6.1
// ToonDB: a log-structured key-value storage node for LLM context retrieval.
//
// Layers, bottom to top (a write travels up this list):
//   CToonDBChecksum, CToonDBURing  C shims (CRC32C with SSE4.2, an opaque liburing handle)
//   CToonDBPrefetch                 a software prefetch (Swift has no intrinsic)
//   CToonDBMemory                   an in-order copy (WAL appends into a mapped segment), the SIGBUS guard of table mappings
//   CToonDBVectorKernels            C distance kernels (AVX-512 / AVX2+FMA / baseline, chosen at load)
//   ToonDBIO                        files and the I/O backends (io_uring, POSIX) behind one protocol
//   ToonDBFormat                    encodings shared by every on-disk format, StorageError
//   ToonDBWAL                       write-ahead log segments: records, writer, reader, recovery
//   ToonDBTable                     SSTables: blocks, bloom filter, builder, reader, block cache
//   ToonDBEngine                    memtable, manifest, compaction, MVCC transactions, Database
//   ToonDBConfig                    node configuration (TOML) to engine options
//   ToonDBEmbedded                  the C ABI (toondb.h) over the engine, for embedded mode
//   ToonDBStorageLibrary            libtoondb_storage.so: ToonDBEmbedded, self-contained
//   ToonDBTOON                      the TOON codec (Token-Oriented Object Notation, spec v4)
//   ToonDBProtocol                  the IPC wire protocol: frames, requests, replies (docs/ipc-protocol.md)
//   ToonDBQuery                     QUERY: keys grouped into rows, rendered as TOON
//   ToonDBServer (toondb-server)    the IPC server: SwiftNIO on a Unix domain socket
//   ToonDBVector                    the HNSW vector index (distance kernels, graph, search)
//   ToonDBCollections               vector collections: items as key-value records, a derived HNSW index
//   ToonDBCLI (toondb)              the command-line tool
import Foundation
import PackageDescription

let packageDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path

let package = Package(
    name: "ToonDB",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "toondb", targets: ["ToonDBCLI"]),
        .executable(name: "toondb-server", targets: ["toondb-server"]),
        .executable(name: "toondb-bulk", targets: ["toondb-bulk"]),
        .library(name: "ToonDBEngine", targets: ["ToonDBEngine"]),
        // libtoondb_storage.so, loaded by the Python SDK and other ToonDB clients.
        .library(name: "toondb_storage", type: .dynamic, targets: ["ToonDBStorageLibrary"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-atomics.git", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/LebJe/TOMLKit.git", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        // C shims: never public API.
        .target(name: "CToonDBChecksum"),
        .target(name: "CToonDBURing", linkerSettings: [.linkedLibrary("uring")]),
        .target(name: "CToonDBPrefetch"),
        .target(name: "CToonDBMemory"),

        .target(name: "ToonDBIO", dependencies: [
            "CToonDBMemory", "CToonDBURing",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "ToonDBFormat", dependencies: ["CToonDBChecksum", "ToonDBIO"]),
        .target(name: "ToonDBWAL", dependencies: ["ToonDBFormat", "ToonDBIO"]),
        .target(name: "ToonDBTable", dependencies: ["CToonDBMemory", "CToonDBPrefetch", "ToonDBFormat", "ToonDBIO"]),
        .target(name: "ToonDBEngine", dependencies: [
            "CToonDBPrefetch", "ToonDBFormat", "ToonDBIO", "ToonDBWAL", "ToonDBTable",
            .product(name: "Atomics", package: "swift-atomics"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "ToonDBConfig", dependencies: [
            "ToonDBEngine", "ToonDBIO",
            .product(name: "TOMLKit", package: "TOMLKit"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "CToonDBABI"),
        .target(name: "ToonDBEmbedded", dependencies: [
            "CToonDBABI", "ToonDBEngine", "ToonDBIO", "ToonDBCollections", "ToonDBVector",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Only the shared library links this target, so only it gets these flags: the Swift
        // runtime linked in statically (the .so loads without a Swift toolchain) and a version
        // script exporting nothing but toondb_* (SwiftPM's --static-swift-stdlib is ignored for
        // dynamic libraries; see ../shared/ENGINEERING-NOTES.md).
        .target(name: "ToonDBStorageLibrary", dependencies: ["ToonDBEmbedded"], exclude: ["exports.map"],
                linkerSettings: [.unsafeFlags([
                    "-static-stdlib",
                    "-Xlinker", "--version-script=\(packageDirectory)/Sources/ToonDBStorageLibrary/exports.map",
                ])]),
        .target(name: "ToonDBTOON"),
        .target(name: "ToonDBProtocol", dependencies: [
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
        .target(name: "ToonDBQuery", dependencies: ["ToonDBEngine", "ToonDBTOON"]),
        .target(name: "CToonDBVectorKernels"),
        .target(name: "ToonDBVector", dependencies: ["CToonDBPrefetch", "CToonDBVectorKernels"]),
        .target(name: "ToonDBCollections", dependencies: ["ToonDBEngine", "ToonDBFormat", "ToonDBVector", "ToonDBTOON"]),
        .executableTarget(name: "toondb-bulk", dependencies: [
            "ToonDBVector", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Sources/ToonDBBulk"),
        .target(name: "ToonDBServer", dependencies: [
            "ToonDBEngine", "ToonDBConfig", "ToonDBProtocol", "ToonDBQuery", "ToonDBCollections",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "Atomics", package: "swift-atomics"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "toondb-server", dependencies: [
            "ToonDBServer", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Sources/ToonDBServerMain"),
        // Load generator for `make bench-ipc` (redis-benchmark's shape, ToonDB's protocol).
        .executableTarget(name: "toondb-ipc-bench", dependencies: [
            "ToonDBProtocol",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Sources/ToonDBIPCBench"),
        .executableTarget(name: "ToonDBCLI", dependencies: [
            "ToonDBEngine", "ToonDBConfig", "ToonDBIO", "ToonDBServer", "ToonDBVector",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Spawned by the crash tests: ingests with concurrent committers, reports every ack.
        .executableTarget(name: "toondb-crash-writer", dependencies: ["ToonDBEngine", "ToonDBFormat"], path: "Sources/ToonDBCrashWriter"),
        .target(name: "ToonDBTestSupport", dependencies: ["ToonDBEngine", "ToonDBIO", "ToonDBWAL", "ToonDBVector"]),

        .testTarget(name: "ToonDBIOTests", dependencies: ["ToonDBIO", "ToonDBTestSupport"]),
        .testTarget(name: "ToonDBFormatTests", dependencies: ["ToonDBFormat", "ToonDBTestSupport"]),
        .testTarget(name: "ToonDBWALTests", dependencies: ["ToonDBWAL", "ToonDBTestSupport"]),
        .testTarget(name: "ToonDBTableTests", dependencies: ["ToonDBTable", "ToonDBTestSupport"]),
        .testTarget(name: "ToonDBEngineTests", dependencies: ["ToonDBEngine", "ToonDBTestSupport", "toondb-crash-writer"]),
        .testTarget(name: "ToonDBEmbeddedTests", dependencies: ["ToonDBEmbedded", "CToonDBABI", "ToonDBTestSupport"]),
        .testTarget(name: "ToonDBConfigTests", dependencies: ["ToonDBConfig"]),
        .testTarget(name: "ToonDBTOONTests", dependencies: ["ToonDBTOON"]),
        .testTarget(name: "ToonDBVectorTests", dependencies: ["ToonDBVector"]),
        .testTarget(name: "ToonDBCollectionsTests", dependencies: ["ToonDBCollections", "ToonDBTestSupport"]),
        // Runs the built `toondb-bulk` binary as a user would.
        .testTarget(name: "ToonDBBulkTests", dependencies: ["toondb-bulk", "ToonDBTestSupport"]),
        .testTarget(name: "ToonDBProtocolTests", dependencies: ["ToonDBProtocol"]),
        .testTarget(name: "ToonDBQueryTests", dependencies: ["ToonDBQuery", "ToonDBTOON", "ToonDBTestSupport"]),
        .testTarget(name: "ToonDBServerTests", dependencies: ["ToonDBServer", "ToonDBProtocol", "ToonDBCollections", "ToonDBTestSupport"]),
        // Runs the built `toondb` binary as a user would.
        .testTarget(name: "ToonDBCLITests", dependencies: ["ToonDBCLI", "ToonDBTestSupport"]),
    ]
)

// Swift 6 language mode (strict concurrency) everywhere. Release builds of the request path
// skip the runtime exclusivity checks on class properties (debug builds and tests keep them):
// measured at about 5% of a served GET (swift_beginAccess and AccessSet::insert in the profile).
let hotPathTargets: Set<String> = ["ToonDBEngine", "ToonDBProtocol", "ToonDBServer", "ToonDBTable", "ToonDBWAL", "ToonDBEmbedded"]
for target in package.targets where target.type != .system {
    var settings = target.swiftSettings ?? []
    settings.append(.swiftLanguageMode(.v6))
    if hotPathTargets.contains(target.name) {
        settings.append(.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)))
    }
    if target.name.hasPrefix("C") == false {
        target.swiftSettings = settings
    }
}
