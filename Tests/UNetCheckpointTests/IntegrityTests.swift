import Foundation
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

    @Test("a flipped byte in compressed data is caught too")
    func flippedByteCompressed() throws {
        let source = Fixtures.path("h5py/paper-tiny-gzip.h5")
        let size = try FileManager.default.attributesOfItem(atPath: source)[.size] as! Int
        let directory = try TemporaryDirectory()
        let damaged = directory.file("damaged.h5")
        // The last chunk of data sits near the end of the file; flip a byte inside it.
        try copyFlippingByte(from: source, to: damaged, at: size - 64)
        let outcome: Bool
        do {
            outcome = try CheckpointFile(path: damaged).verify().isValid
        } catch {
            outcome = false  // HDF5 may already fail to inflate or find the metadata: also a catch.
        }
        #expect(!outcome)
    }
}
