import Foundation
import TestSupport
import Testing

@testable import UNetCheckpoint

/// Files written by h5py (fixtures/generate.py, an independent writer of docs/format.md) read
/// back bit for bit.
@Suite("Reading files h5py wrote")
struct ReadTests {
    static let bitwiseFixtures = [
        "paper-tiny", "paper-tiny-bf16", "paper-tiny-gzip", "milesial-tiny", "milesial-bilinear-tiny-f16",
        "paper-tiny-minor-1.7",
    ]

    @Test("every tensor is bitwise what h5py stored", arguments: bitwiseFixtures)
    func bitwise(name: String) throws {
        let file = try CheckpointFile(path: Fixtures.path("h5py/\(name).h5"))
        let expected = try Fixtures.expected(name)
        #expect(file.tensors.map(\.key) == expected.tensors.map(\.key))
        #expect(file.network.parameterCount == expected.totalParameters)
        #expect(file.migrations.count == 1 && file.architecture.version1 != nil)
        for entry in expected.tensors {
            let tensor = try file.tensor(entry.key)
            #expect(tensor.shape == entry.shape)
            #expect(tensor.dtype.rawValue == entry.dtype)
            #expect(tensor.crc32 == entry.crc32)
            let bytes = tensor.withUnsafeBytes { Data($0) }
            #expect(bytes == expected.bytes(of: entry), "\(entry.key)")
        }
        #expect(file.verify().isValid)
    }

    @Test("metadata, norm counters and storage are read as written")
    func metadata() throws {
        let paper = try CheckpointFile(path: Fixtures.path("h5py/paper-tiny.h5"))
        #expect(paper.metadata.classes == ["background", "cell"])
        #expect(paper.metadata.training?.momentum == 0.99)
        #expect(paper.metadata.training?.tileSize == 572)
        #expect(paper.metadata.input?.scale == 1.0 / 255.0)
        #expect(paper.metadata.source?.layout == "paper")
        #expect(paper.metadata.source?.sha256?.count == 64)
        #expect(paper.metadata.user == ["fixture": "yes"])
        #expect(paper.tensors.allSatisfy { $0.storage == "contiguous" })
        #expect(paper.warnings.isEmpty)

        let milesial = try CheckpointFile(path: Fixtures.path("h5py/milesial-tiny.h5"))
        #expect(milesial.metadata.maskValues == .array([.number(0), .number(1)]))
        #expect(milesial.architecture.version1?.norm.kind == .batch)
        let norms = try milesial.architecture.network().tensorSpecs.filter { $0.key.hasSuffix("running_var") }.map(
            \.layer)
        #expect(Set(milesial.normCounters.keys) == Set(norms))
        #expect(milesial.normCounters.values.allSatisfy { $0 >= 100 })

        let rgb = try CheckpointFile(path: Fixtures.path("h5py/milesial-bilinear-tiny-f16.h5"))
        #expect(
            rgb.metadata.maskValues
                == .array([
                    .array([.number(0), .number(0), .number(0)]), .array([.number(255), .number(0), .number(0)]),
                    .array([.number(0), .number(255), .number(0)]),
                ]))
        #expect(rgb.tensors.allSatisfy { $0.dtype == .float16 })

        let gzip = try CheckpointFile(path: Fixtures.path("h5py/paper-tiny-gzip.h5"))
        #expect(gzip.tensors.allSatisfy { $0.storage == "chunked+shuffle+gzip" })
    }

    @Test("a newer minor version is read, its unknown fields kept and reported")
    func newerMinorVersion() throws {
        let file = try CheckpointFile(path: Fixtures.path("h5py/paper-tiny-minor-1.7.h5"))
        #expect(file.schemaVersion == SchemaVersion(major: 1, minor: 7))
        #expect(file.metadata.additionalFields["future_meta_field"] != nil)
        #expect(file.warnings.contains { $0.contains("schema 1.7 is newer") })
        let plain = try CheckpointFile(path: Fixtures.path("h5py/paper-tiny.h5"))
        #expect(file.architecture == plain.architecture)
    }

    @Test("a newer major version is refused, naming both versions")
    func newerMajorVersion() throws {
        #expect {
            _ = try CheckpointFile(path: Fixtures.path("h5py/paper-tiny-major-3.0.h5"))
        } throws: { error in
            let error = error as! CheckpointError
            return error.kind == .unsupportedVersion && error.message.contains("schema_version 3.0")
                && error.message.contains("up to 2.x")
        }
    }

    @Test("our float32 → bfloat16 rounding gives exactly PyTorch's bits")
    func bfloat16MatchesTorch() throws {
        let f32 = try CheckpointFile(path: Fixtures.path("h5py/paper-tiny.h5")).read()
        let bf16 = try CheckpointFile(path: Fixtures.path("h5py/paper-tiny-bf16.h5")).read()
        let converted = f32.converted(to: .bfloat16)
        for (key, tensor) in bf16.tensors {
            #expect(converted.tensors[key] == tensor, "\(key)")
        }
    }
}
