import Foundation
import HDF5
import TestSupport
import Testing

@Suite("HDF5 layer")
struct HDF5Tests {
    @Test("datasets of every element type and attributes of every kind round-trip")
    func roundTrip() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("t.h5")
        try HDF5File.create(path) { root in
            try root.setAttribute("text", string: "U-Net ✓ 572→388")
            try root.setAttribute("count", uint32: 0xDEAD_BEEF)
            try root.setAttribute("big", int64: -(1 << 40))
            try root.setAttribute("ratio", double: 0.99)
            for type in HDF5ElementType.allCases {
                let dataset = try root.createDataset("data/\(type.rawValue)", type: type, shape: [2, 3])
                let bytes = (0..<(6 * type.size)).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
                try bytes.withUnsafeBytes { try dataset.write($0) }
            }
        }
        let file = try HDF5File.open(path)
        let root = try file.root()
        #expect(try root.attributeNames() == ["big", "count", "ratio", "text"])
        #expect(try root.stringAttribute("text") == "U-Net ✓ 572→388")
        #expect(try root.uint32Attribute("count") == 0xDEAD_BEEF)
        #expect(try root.integerAttribute("big") == -(1 << 40))
        #expect(try root.doubleAttribute("ratio") == 0.99)
        #expect(try root.childNames() == ["data"])
        #expect(try root.kind(of: "data") == .group)
        let data = try root.group("data")
        #expect(try data.childNames() == HDF5ElementType.allCases.map(\.rawValue).sorted())
        for type in HDF5ElementType.allCases {
            let dataset = try data.dataset(type.rawValue)
            #expect(dataset.shape == [2, 3])
            #expect(dataset.type.elementType == type)
            #expect(dataset.layout == .contiguous)
            #expect(dataset.fileOffset != nil)
            var bytes = [UInt8](repeating: 0, count: 6 * type.size)
            try bytes.withUnsafeMutableBytes { try dataset.read(into: $0) }
            #expect(bytes == (0..<(6 * type.size)).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) })
        }
    }

    @Test("our float16 type is the one h5py writes for numpy.float16")
    func float16MatchesH5py() throws {
        let file = try HDF5File.open(Fixtures.path("h5py/milesial-bilinear-tiny-f16.h5"))
        let dataset = try file.root().dataset("tensors/head/out/weight")
        #expect(dataset.type.elementType == .float16)
        #expect(dataset.type.floatFields == [15, 10, 5, 0, 10, 15])
    }

    @Test("chunked storage records its filters")
    func chunked() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("c.h5")
        try HDF5File.create(path) { root in
            let dataset = try root.createDataset(
                "x", type: .float32, shape: [64, 16], storage: .chunked(chunk: [8, 16], gzipLevel: 5))
            let values = (0..<1024).map { Float($0 % 7) }
            try values.withUnsafeBytes { try dataset.write($0) }
        }
        let dataset = try HDF5File.open(path).root().dataset("x")
        #expect(dataset.layout == .chunked)
        #expect(dataset.filters == [2, 1])  // shuffle, then deflate
        #expect(dataset.fileOffset == nil)
        var values = [Float](repeating: 0, count: 1024)
        try values.withUnsafeMutableBytes { try dataset.read(into: $0) }
        #expect(values == (0..<1024).map { Float($0 % 7) })
    }

    @Test("failures become errors that name the operation, the file and HDF5's cause")
    func errors() throws {
        let directory = try TemporaryDirectory()
        let text = directory.file("text.h5")
        try Data("not HDF5".utf8).write(to: URL(fileURLWithPath: text))
        #expect { _ = try HDF5File.open(text) } throws: { error in
            (error as! HDF5Error).description.contains("not an HDF5 file") && (error as! HDF5Error).file == text
        }
        let path = directory.file("e.h5")
        let file = try HDF5File.create(path)
        #expect { _ = try file.root().dataset("missing") } throws: { error in
            let error = error as! HDF5Error
            return error.operation == "open dataset /missing" && !error.cause.isEmpty
        }
        #expect { _ = try file.root().stringAttribute("missing") } throws: { error in
            (error as! HDF5Error).operation.contains("attribute \"missing\"")
        }
        let dataset = try file.root().createDataset("d", type: .float32, shape: [4])
        #expect(throws: HDF5Error.self) {
            try [Float](repeating: 0, count: 3).withUnsafeBytes { try dataset.write($0) }
        }
        // Creating over an existing file is refused (writers use fresh temporary names).
        #expect(throws: HDF5Error.self) { _ = try HDF5File.create(path) }
        // Closing while an object is still open fails loudly instead of leaving data unwritten.
        #expect { try file.close() } throws: { error in
            (error as! HDF5Error).cause.contains("objects still open")
        }
    }
}
