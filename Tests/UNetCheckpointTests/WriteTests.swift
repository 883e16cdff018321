import Foundation
import HDF5
import TestSupport
import Testing

@testable import UNetCheckpoint

@Suite("Writing checkpoints")
struct WriteTests {
    @Test(
        "write then read gives back every tensor bitwise, in every dtype and storage",
        arguments: [DType.float32, .float16, .bfloat16], [false, true])
    func roundTrip(dtype: DType, compressed: Bool) throws {
        let directory = try TemporaryDirectory()
        let original = try syntheticCheckpoint(.milesial(inChannels: 1, classes: 3, bilinear: true, baseWidth: 4))
            .converted(to: dtype)
        var withCounters = original
        withCounters.normCounters = ["encoder.0.norm0": 42, "decoder.3.norm1": 7]
        let path = directory.file("model.h5")
        try withCounters.write(
            to: path, options: WriteOptions(storage: compressed ? .compressed(level: 6) : .contiguous))

        let file = try CheckpointFile(path: path)
        #expect(file.architecture == original.architecture)
        #expect(file.metadata.classes == ["background", "cell"])
        #expect(file.metadata.writer?.tool == "unet-ckpt")
        #expect(file.normCounters == ["encoder.0.norm0": 42, "decoder.3.norm1": 7])
        #expect(file.tensors.allSatisfy { $0.storage == (compressed ? "chunked+shuffle+gzip" : "contiguous") })
        let read = try file.read()
        for (key, tensor) in original.tensors { #expect(read.tensors[key] == tensor, "\(key)") }
        #expect(try directory.contents() == ["model.h5"], "no temporary file is left behind")
    }

    @Test("equal content gives byte-identical files")
    func deterministic() throws {
        let directory = try TemporaryDirectory()
        let checkpoint = try syntheticCheckpoint(.paper(widths: [4, 8, 16]))
        let options = WriteOptions(writtenAt: nil)
        try checkpoint.write(to: directory.file("a.h5"), options: options)
        // A second later: no object may record when it was written (HDF5 keeps times to the second).
        Thread.sleep(forTimeInterval: 1.1)
        try checkpoint.write(to: directory.file("b.h5"), options: options)
        let a = try Data(contentsOf: URL(fileURLWithPath: directory.file("a.h5")))
        let b = try Data(contentsOf: URL(fileURLWithPath: directory.file("b.h5")))
        #expect(a == b)
    }

    @Test("a probe is written and read back with its tolerances")
    func probe() throws {
        let directory = try TemporaryDirectory()
        var checkpoint = try syntheticCheckpoint(.paper(widths: [4, 8, 16]))
        let input = Tensor(shape: [1, 1, 44, 44], values: (0..<(44 * 44)).map { Float($0) / 1936 })
        let output = Tensor(shape: [1, 2, 4, 4], values: (0..<32).map { Float($0) })
        checkpoint.probe = Probe(input: input, output: output, relativeTolerance: 1e-3, absoluteTolerance: 1e-6)
        try checkpoint.write(to: directory.file("probe.h5"))
        let file = try CheckpointFile(path: directory.file("probe.h5"))
        #expect(file.probe?.inputShape == [1, 1, 44, 44])
        let probe = try file.readProbe()
        #expect(probe == checkpoint.probe)
    }

    @Test("tensors that do not fit the architecture are refused, each named")
    func refusesWrongTensors() throws {
        let architecture = UNetArchitecture.paper(widths: [4, 8, 16])
        var tensors = try syntheticCheckpoint(architecture).tensors
        tensors["encoder.0.conv0.weight"] = Tensor(shape: [4, 1, 3, 2], values: Array(repeating: 0, count: 24))
        tensors["head.out.bias"] = nil
        tensors["extra.weight"] = Tensor(shape: [1], values: [0])
        #expect {
            _ = try Checkpoint(architecture: architecture, tensors: tensors)
        } throws: { error in
            let problems = (error as! CheckpointError).problems
            return problems.count == 3
                && problems.contains { $0.contains("encoder.0.conv0.weight has shape [4, 1, 3, 2]") }
                && problems.contains { $0.contains("missing tensor head.out.bias") }
                && problems.contains { $0.contains("extra.weight is not part") }
        }
    }

    @Test("a failed write leaves the destination as it was and no temporary file")
    func atomicOnFailure() throws {
        let directory = try TemporaryDirectory()
        let checkpoint = try syntheticCheckpoint(.paper(widths: [4, 8, 16]))
        // The destination is a non-empty directory: the final rename must fail.
        let destination = directory.file("occupied")
        try FileManager.default.createDirectory(atPath: destination, withIntermediateDirectories: false)
        try Data("keep".utf8).write(to: URL(fileURLWithPath: destination + "/inside"))
        #expect(throws: CheckpointError.self) { try checkpoint.write(to: destination) }
        #expect(try directory.contents() == ["occupied"])
        #expect(try Data(contentsOf: URL(fileURLWithPath: destination + "/inside")) == Data("keep".utf8))

        // A missing directory is reported before anything is written.
        #expect {
            try checkpoint.write(to: directory.file("missing/model.h5"))
        } throws: { error in
            (error as! CheckpointError).message.contains("does not exist")
        }
    }

    @Test("overwriting replaces the old file only with the complete new one")
    func overwrite() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("model.h5")
        try syntheticCheckpoint(.paper(widths: [4, 8, 16]), seed: 1).write(to: path)
        let second = try syntheticCheckpoint(.paper(widths: [4, 8, 16]), seed: 2)
        try second.write(to: path)
        let read = try CheckpointFile(path: path).read()
        #expect(read.tensors == second.tensors)
        #expect(try directory.contents() == ["model.h5"])
    }

    @Test("only the writable schema versions are accepted")
    func schemaVersions() throws {
        let directory = try TemporaryDirectory()
        let checkpoint = try syntheticCheckpoint(.paper(widths: [4, 8, 16]))
        #expect(
            try checkpoint.write(to: directory.file("a.h5"), options: WriteOptions(schemaVersion: .current)).isEmpty)
        #expect {
            try checkpoint.write(
                to: directory.file("b.h5"), options: WriteOptions(schemaVersion: SchemaVersion(major: 0, minor: 9)))
        } throws: { error in
            let error = error as! CheckpointError
            return error.kind == .unsupportedVersion && error.message.contains("writes schema 1.0, 2.0, 2.1, not 0.9")
        }
        #expect(try directory.contents() == ["a.h5"])
        // 2.1 added optional metadata only: a 2.0 file holds the same and says 2.0.
        #expect(
            try checkpoint.write(to: directory.file("c.h5"), options: WriteOptions(schemaVersion: .version2)).isEmpty)
        #expect(try CheckpointFile(path: directory.file("c.h5")).schemaVersion == .version2)
        #expect(try CheckpointFile(path: directory.file("a.h5")).schemaVersion == .current)
    }

    @Test("a network of 1.0's families is written as 1.0 on request and read back through the migration")
    func schemaOneWritten() throws {
        let directory = try TemporaryDirectory()
        let checkpoint = try syntheticCheckpoint(.milesial(inChannels: 1, classes: 2, bilinear: true, baseWidth: 4))
        let path = directory.file("old.h5")
        try checkpoint.write(to: path, options: WriteOptions(schemaVersion: .version1))
        let file = try CheckpointFile(path: path)
        #expect(file.schemaVersion == .version1)
        #expect(file.migrations.count == 1)
        #expect(file.architecture == checkpoint.architecture)
        let read = try file.read()
        for (key, tensor) in checkpoint.tensors { #expect(read.tensors[key] == tensor, "\(key)") }
        // The stored document is 1.0's flat form.
        let text = try HDF5File.open(path).root().stringAttribute("architecture")
        #expect(text.contains("\"up_channels\"") && !text.contains("\"spatial_dims\""))
    }

    @Test("a network 1.0 cannot describe is not written as 1.0, naming what only 2.0 has")
    func schemaOneRefused() throws {
        let directory = try TemporaryDirectory()
        let checkpoint = try syntheticCheckpoint(SchemaTwoNetworks.anisotropic3D)
        try checkpoint.write(to: directory.file("new.h5"))
        #expect(try CheckpointFile(path: directory.file("new.h5")).read().tensors == checkpoint.tensors)
        #expect {
            try checkpoint.write(to: directory.file("old.h5"), options: WriteOptions(schemaVersion: .version1))
        } throws: { error in
            (error as! CheckpointError).message.contains("3-D, merges of equal sizes, strided convolutions")
        }
        #expect(try directory.contents() == ["new.h5"])
    }

    @Test("no HDF5 object stays open after reading and writing")
    func noLeakedHandles() throws {
        let directory = try TemporaryDirectory()
        do {
            let checkpoint = try syntheticCheckpoint(.paper(widths: [4, 8, 16]))
            try checkpoint.write(to: directory.file("model.h5"))
            let file = try CheckpointFile(path: directory.file("model.h5"))
            _ = try file.read()
            _ = file.verify()
            #expect(HDF5File.openFilePaths().contains(directory.file("model.h5")), "the open file is seen")
        }
        // Other tests run in parallel and may hold files open: check this file only.
        #expect(!HDF5File.openFilePaths().contains(directory.file("model.h5")))
    }
}
