import Foundation
import HDF5
import TestSupport
import Testing

@testable import UNetCheckpoint

@Suite("Integrity")
struct IntegrityTests {
    @Test(
        "a single flipped byte in any tensor's data is caught and that tensor named",
        arguments: ["paper-tiny", "milesial-tiny", "milesial-bilinear-tiny-f16", "paper-tiny-bf16"])
    func flippedByte(name: String) throws {
        let source = Fixtures.path("h5py/\(name).h5")
        let original = try CheckpointFile(path: source)
        let directory = try TemporaryDirectory()
        var generator = SplitMix64(seed: 7)
        for stored in original.tensors {
            let offset = try #require(stored.fileOffset, "\(stored.key) is contiguous")
            let position = Int(offset) + Int(generator.next() % UInt64(stored.byteCount))
            let damaged = directory.file("damaged.h5")
            try copyFlippingByte(from: source, to: damaged, at: position)
            let file = try CheckpointFile(path: damaged)
            let report = file.verify()
            #expect(report.failures.map(\.key) == [stored.key])
            #expect(throws: CheckpointError.self) { _ = try file.tensor(stored.key) }
            // Reading without the check hands out the damaged data unchanged.
            #expect(try file.tensor(stored.key, verifyChecksum: false) != original.tensor(stored.key))
        }
    }

    @Test("a flipped byte in a compressed chunk is caught by zlib's check as HDF5 inflates it, naming the tensor")
    func flippedByteCompressed() throws {
        let source = Fixtures.path("h5py/paper-tiny-gzip.h5")
        let original = try CheckpointFile(path: source)
        let hdf5 = try HDF5File.open(source)
        let base = try hdf5.userBlockSize()
        let directory = try TemporaryDirectory()
        let damaged = directory.file("damaged.h5")
        var generator = SplitMix64(seed: 7)
        for stored in original.tensors {
            let dataset = try hdf5.root().dataset(String(stored.datasetPath.dropFirst()))
            let chunks = try dataset.chunkLocations()
            try #require(!chunks.isEmpty, "\(stored.key) is chunked")
            let chunk = chunks[Int(generator.next() % UInt64(chunks.count))]
            try copyFlippingByte(
                from: source, to: damaged, at: base + Int(chunk.offset) + Int(generator.next() % UInt64(chunk.size)))
            let file = try CheckpointFile(path: damaged)
            // The deflate filter fails before any CRC-32 is computed: an I/O error, not a mismatch.
            let report = file.verify()
            #expect(report.failures.map(\.key) == [stored.key])
            #expect(
                report.failures.first?.reason == "cannot read tensor \(stored.key): read dataset \(stored.datasetPath)")
            let error = #expect(throws: CheckpointError.self) { _ = try file.tensor(stored.key) }
            #expect(error?.kind == .io, "\(stored.key)")
            #expect(error?.cause?.contains("filter returned failure") == true, "\(stored.key): \(error?.cause ?? "")")
        }
    }

    @Test("compressed data rewritten with other values (a valid gzip stream) fails its CRC-32")
    func rewrittenCompressed() throws {
        let directory = try TemporaryDirectory()
        let copy = directory.file("rewritten.h5")
        try FileManager.default.copyItem(atPath: Fixtures.path("h5py/paper-tiny-gzip.h5"), toPath: copy)
        let key = "encoder.1.conv0.weight"
        let (stored, read) = try {
            let original = try CheckpointFile(path: copy)  // closed again before the file is opened for writing
            let stored = try #require(original.tensors.first { $0.key == key })
            return (stored, try original.tensor(key).floatValues())
        }()
        let recorded = stored.storedChecksum
        var values = read
        values[values.count / 2] += 1
        do {
            let hdf5 = try HDF5File.open(copy, writable: true)
            let dataset = try hdf5.root().dataset(String(stored.datasetPath.dropFirst()))
            #expect(try !dataset.chunkLocations().isEmpty)
            try values.withUnsafeBytes { try dataset.write($0) }
            try hdf5.close()
        }
        let file = try CheckpointFile(path: copy)
        let computed = Tensor(shape: stored.shape, values: values).crc32
        let message =
            "tensor \(stored.key) is corrupt: its data has CRC-32 \(hex(computed)), the file recorded \(hex(recorded))"
        #expect(file.verify().failures.map(\.key) == [stored.key])
        #expect(file.verify().failures.first?.reason == message)
        let error = #expect(throws: CheckpointError.self) { _ = try file.tensor(stored.key) }
        #expect(error?.kind == .checksumMismatch && error?.message == message)
    }
}
