// swift-tools-version:6.0
// unet-ckpt is licensed under the Apache License 2.0 (LICENSE).
import PackageDescription

let package = Package(
    name: "unet-ckpt",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "UNetCheckpoint", targets: ["UNetCheckpoint"]),
        .library(name: "UNetFormats", targets: ["UNetFormats"]),
        .library(name: "UNetInference", targets: ["UNetInference"]),
        .library(name: "UNetDrawing", targets: ["UNetDrawing"]),
        .library(name: "UNetImages", targets: ["UNetImages"]),
        .library(name: "UNetONNX", targets: ["UNetONNX"]),
        .library(name: "UNetBioImage", targets: ["UNetBioImage"]),
        .library(name: "UNetPipelines", targets: ["UNetPipelines"]),
        .executable(name: "unet-ckpt", targets: ["unet-ckpt"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        // `make docs`: the DocC catalogs of every library product (swift package generate-documentation).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
        // YAML for BioImage Model Zoo packages (rdf.yaml), read through libyaml.
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // C libraries from the system (Debian: libhdf5-dev, zlib1g-dev, libdeflate-dev, libopenblas-dev, …).
        // libhdf5 linked statically (Sources/CHDF5/module.modulemap): no libcurl at start-up.
        .systemLibrary(name: "CHDF5", providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(
            name: "CUNetZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]),

        // CRC-32 with the CPU's carry-less multiply (libdeflate-dev): 4× zlib's speed here.
        .systemLibrary(
            name: "CLibDeflate", pkgConfig: "libdeflate",
            providers: [.apt(["libdeflate-dev"])]),
        // Linux's sync_file_range, for writes that reach the disk sooner (no library to link).
        .systemLibrary(name: "CFileSync"),
        // The GEMM libraries' entry points, loaded with dlopen by UNetInference: oneDNN (Debian:
        // libdnnl2; JIT kernels for the CPU it runs on), else OpenBLAS (libopenblas0).
        .systemLibrary(name: "COpenBLAS", providers: [.apt(["libdnnl2", "libopenblas0"])]),
        .systemLibrary(
            name: "CPNG", pkgConfig: "libpng",
            providers: [.apt(["libpng-dev"]), .brew(["libpng"])]),
        .systemLibrary(
            name: "CTIFF", pkgConfig: "libtiff-4",
            providers: [.apt(["libtiff-dev"]), .brew(["libtiff"])]),
        // NIfTI-1 and NIfTI-2 (libnifti2 and its gzip layer libznz; Debian ships no .pc file).
        .systemLibrary(name: "CNIfTI", providers: [.apt(["libnifti2-dev"])]),

        // The C side of image input and output: libpng calls (errors by longjmp, kept out of
        // Swift), libtiff's error handler and wrappers of its variadic field calls, libnifti calls
        // with its printing captured (nifti-include/ forwards <znzlib.h> to /usr/include/nifti).
        .target(
            name: "CUNetImageIO", dependencies: ["CPNG", "CTIFF", "CNIfTI"],
            cSettings: [.headerSearchPath("nifti-include")]),

        // A small owning Swift layer over libhdf5.
        .target(name: "HDF5", dependencies: ["CHDF5"]),

        // The checkpoint library: architecture, tensors, schema, validation, migrations.
        .target(name: "UNetCheckpoint", dependencies: ["HDF5", "CLibDeflate", "CFileSync"]),

        // ONNX export: the whole network as an ONNX graph with the weights as initializers, written
        // with SwiftProtobuf over the subset of onnx.proto in onnx-subset.proto (docs/onnx.md).
        .target(
            name: "UNetONNX",
            dependencies: ["UNetCheckpoint", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            exclude: ["onnx-subset.proto", "generate-proto.sh"]),

        // Foreign formats: PyTorch, safetensors and Keras files and the project layouts inside them.
        .target(
            name: "UNetFormats",
            dependencies: [
                "UNetCheckpoint", "HDF5", "CUNetZlib",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Yams", package: "Yams"),
            ]),

        // Winograd's transforms in C, compiled for AVX-512, AVX2 and baseline x86-64 and chosen for
        // the CPU at run time (target_clones).
        .target(name: "CUNetKernels"),

        // The CPU forward pass (no HDF5): every architecture of the schema, GEMM on OpenBLAS.
        .target(name: "UNetInference", dependencies: ["UNetCheckpoint", "COpenBLAS", "CUNetKernels"]),

        // SVG pictures: the architecture as the paper's U, weight histograms (no HDF5 of its own).
        .target(name: "UNetDrawing", dependencies: ["UNetCheckpoint"]),
        // Images in and out: PNG and TIFF pixels, NIfTI/TIFF/npy volumes, input normalisation, masks,
        // probabilities, overlays.
        .target(
            name: "UNetImages", dependencies: ["UNetInference", "UNetCheckpoint", "CUNetImageIO", "CTIFF", "CNIfTI"]),

        // BioImage Model Zoo packages written (rdf.yaml, ONNX weights, test tensors, cover, README;
        // docs/bioimageio.md); UNetFormats reads them.
        .target(
            name: "UNetBioImage",
            dependencies: ["UNetCheckpoint", "UNetFormats", "UNetONNX", "UNetInference", "UNetDrawing", "UNetImages"]),

        // What the subcommands do, as library calls: prediction, conversion, verification, round trips.
        .target(
            name: "UNetPipelines",
            dependencies: ["UNetCheckpoint", "UNetFormats", "UNetInference", "UNetImages", "UNetONNX", "UNetBioImage"]),

        // The command line, and its supervision, which forks before main (docs/robustness.md).
        .target(name: "CSupervisor"),
        .executableTarget(
            name: "unet-ckpt",
            dependencies: [
                "CSupervisor", "UNetCheckpoint", "UNetFormats", "UNetInference", "UNetDrawing", "UNetImages",
                "UNetONNX",
                "UNetBioImage", "UNetPipelines",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        // A mutation fuzzer for every parser of untrusted input (docs/robustness.md).
        .executableTarget(
            name: "unet-ckpt-fuzz", dependencies: ["UNetCheckpoint", "UNetFormats", "UNetInference", "UNetImages"]),

        // The benchmark against h5py, torch and onnxruntime (docs/performance.md); peers.py runs them.
        .executableTarget(
            name: "unet-ckpt-bench",
            dependencies: [
                "UNetCheckpoint", "UNetFormats", "UNetInference",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            exclude: ["peers.py", "requirements.txt"]),

        .target(name: "TestSupport", dependencies: ["UNetCheckpoint", "HDF5"], path: "Tests/TestSupport"),
        .testTarget(name: "HDF5Tests", dependencies: ["HDF5", "TestSupport"]),
        .testTarget(name: "UNetCheckpointTests", dependencies: ["UNetCheckpoint", "HDF5", "TestSupport"]),
        .testTarget(name: "UNetFormatsTests", dependencies: ["UNetFormats", "UNetCheckpoint", "TestSupport"]),
        .testTarget(name: "UNetInferenceTests", dependencies: ["UNetInference", "UNetFormats", "TestSupport"]),
        .testTarget(name: "UNetDrawingTests", dependencies: ["UNetDrawing", "UNetCheckpoint", "TestSupport"]),
        .testTarget(
            name: "UNetImagesTests",
            dependencies: [
                "UNetImages", "UNetInference", "UNetCheckpoint", "TestSupport",
                .product(name: "Crypto", package: "swift-crypto"),
            ]),
        .testTarget(
            name: "UNetONNXTests",
            dependencies: [
                "UNetONNX", "UNetFormats", "UNetInference", "TestSupport",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]),
        .testTarget(
            name: "UNetBioImageTests",
            dependencies: ["UNetBioImage", "UNetFormats", "UNetInference", "UNetCheckpoint", "TestSupport"]),
        .testTarget(
            name: "UNetPipelinesTests",
            dependencies: [
                "UNetPipelines", "UNetCheckpoint", "UNetFormats", "UNetInference", "UNetImages", "TestSupport",
            ]),
        .testTarget(
            name: "CommandLineTests",
            dependencies: [
                "TestSupport", "UNetCheckpoint", "UNetFormats", "UNetImages", "UNetInference", "unet-ckpt",
                "unet-ckpt-fuzz", "CSupervisor",
            ]),
    ]
)
