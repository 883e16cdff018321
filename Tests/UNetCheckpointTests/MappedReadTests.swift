import Foundation
import TestSupport
import Testing

@testable import UNetCheckpoint

/// `read(mapped: true)` (tensors in the file's pages) and the parallel `pread` path give what
/// h5py stored, and both refuse what the copying reader refuses.
@Suite("Reading in place and in parallel")
struct MappedReadTests {
    @Test("mapped, copied and h5py's bytes agree", arguments: ReadTests.bitwiseFixtures)
    func mappedEqualsCopied(name: String) throws {
        let file = try CheckpointFile(path: Fixtures.path("h5py/\(name).h5"))
        let expected = try Fixtures.expected(name)
        let mapped = try file.read(mapped: true)
        let copied = try file.read()
        for entry in expected.tensors {
            let tensor = try #require(mapped.tensors[entry.key])
            #expect(tensor.withUnsafeBytes { Data($0) } == expected.bytes(of: entry), "\(entry.key)")
            #expect(tensor == copied.tensors[entry.key], "\(entry.key)")
            #expect(tensor.crc32 == entry.crc32)
            #expect(tensor.materialized() == tensor)
            #expect(tensor.floatValues() == copied.tensors[entry.key]?.floatValues())
        }
        // Contiguous tensors lie in the file; chunked (gzip) ones cannot and are read through HDF5.
        let inPlace = mapped.tensors.values.filter { if case .mapped = $0.storage { true } else { false } }.count
        #expect(inPlace == file.tensors.filter { $0.fileOffset != nil }.count)
    }

    @Test("a corrupt tensor is refused whether mapped or read")
    func corruptTensorRefused() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("flipped.h5")
        try FileManager.default.copyItem(atPath: Fixtures.path("h5py/paper-tiny.h5"), toPath: path)
        let victim = try #require(try CheckpointFile(path: path).tensors.last { $0.fileOffset != nil })
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        try handle.seek(toOffset: victim.fileOffset! + 1)
        let byte = try #require(try handle.read(upToCount: 1)?.first)
        try handle.seek(toOffset: victim.fileOffset! + 1)
        try handle.write(contentsOf: Data([byte ^ 0x40]))
        try handle.close()
        for mapped in [true, false] {
            #expect {
                _ = try CheckpointFile(path: path).read(mapped: mapped)
            } throws: { error in
                (error as? CheckpointError)?.message.contains(victim.key) == true
            }
        }
    }

    @Test("elements outside the mapped file are refused, not read")
    func outOfRange() throws {
        let mapping = try FileMapping(path: Fixtures.path("h5py/paper-tiny.h5"))
        #expect(MappedElements(mapping: mapping, offset: mapping.size - 4, dtype: .float32, count: 2) == nil)
        #expect(MappedElements(mapping: mapping, offset: -1, dtype: .float32, count: 1) == nil)
        #expect(MappedElements(mapping: mapping, offset: mapping.size - 4, dtype: .float32, count: 1) != nil)
    }
}
