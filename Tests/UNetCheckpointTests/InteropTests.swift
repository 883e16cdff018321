import Foundation
import TestSupport
import Testing

@testable import UNetCheckpoint

/// Files unet-ckpt writes are plain HDF5: HDF5's own h5dump (from Debian's hdf5-tools, installed
/// by `make setup`) reads every tensor back bit for bit.
@Suite("Interoperability")
struct InteropTests {
    static let h5dump = ["/usr/bin/h5dump", "/usr/local/bin/h5dump"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    /// The raw bytes h5dump extracts from one dataset, in the file's own element type.
    func dump(_ dataset: String, of file: String, into directory: TemporaryDirectory) throws -> Data {
        let output = directory.file("dump.bin")
        try? FileManager.default.removeItem(atPath: output)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try #require(Self.h5dump, "h5dump is missing: run `make setup`"))
        process.arguments = ["-d", dataset, "-b", "FILE", "-o", output, file]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "h5dump \(dataset)")
        return try Data(contentsOf: URL(fileURLWithPath: output))
    }

    @Test("h5dump reads every tensor we write bitwise", arguments: [DType.float32, .float16, .bfloat16])
    func h5dumpReadsOurFiles(dtype: DType) throws {
        let directory = try TemporaryDirectory()
        let checkpoint = try syntheticCheckpoint(.milesial(inChannels: 1, classes: 2, bilinear: false, baseWidth: 2))
            .converted(to: dtype)
        let path = directory.file("model.h5")
        try checkpoint.write(to: path)
        for (spec, tensor) in checkpoint.orderedTensors {
            let bytes = try dump(spec.datasetPath, of: path, into: directory)
            #expect(bytes == tensor.withUnsafeBytes { Data($0) }, "\(spec.key)")
        }
    }
}
