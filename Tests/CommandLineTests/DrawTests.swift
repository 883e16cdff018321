import Foundation
import TestSupport
import Testing
import UNetCheckpoint

/// `unet-ckpt draw` and `inspect --plot`, end to end on real files.
@Suite("Command line: pictures")
struct DrawTests {
    static func sides(_ svg: ParsedSVG) throws -> [Int] {
        try svg.elements(class: "feature-map").compactMap { $0.integer("data-side") }
    }

    /// The schema 2.0 files of the real libraries (fixtures/schema2/index.json).
    static var libraryFiles: [String] {
        get throws {
            struct Index: Decodable {
                struct Entry: Decodable { let file: String }
                let files: [Entry]
            }
            return try Fixtures.manifest("schema2/index.json", as: Index.self).files.map(\.file)
        }
    }

    @Test("draw draws every library family of schema 2.0, 2-D and 3-D, with all its parameters")
    func drawLibraryFamilies() throws {
        let libraryFiles = try Self.libraryFiles
        #expect(libraryFiles.count >= 11, "fixtures/schema2/index.json is short")
        let directory = try TemporaryDirectory()
        for name in libraryFiles {
            let checkpoint = Fixtures.path("schema2/\(name)")
            let output = directory.file("\(name).svg")
            let result = try runUNetCkpt(["draw", checkpoint, output])
            #expect(result.status == 0, "\(name): \(result.standardError)")
            let svg = try ParsedSVG(Data(contentsOf: URL(fileURLWithPath: output)))
            let network = try CheckpointFile(path: checkpoint).network
            let total = try svg.elements(class: "total-parameters").first?.integer("data-parameters")
            #expect(total == network.parameterCount, "\(name)")
            let maps = try svg.elements(class: "feature-map")
            #expect(maps.count >= network.architecture.encoder.count + network.architecture.decoder.count, "\(name)")
            if network.architecture.spatialDims == 3 {
                #expect(maps.allSatisfy { $0[attribute: "data-size"]?.split(separator: "×").count == 3 }, "\(name)")
            }
        }
    }

    @Test("draw writes the U of a checkpoint at the asked input size, the same bytes every time")
    func drawPaperTiny() throws {
        let directory = try TemporaryDirectory()
        let first = directory.file("a.svg")
        let second = directory.file("b.svg")
        let checkpoint = Fixtures.path("h5py/paper-tiny.h5")
        for output in [first, second] {
            let result = try runUNetCkpt(["draw", checkpoint, output, "--input-size", "92"])
            #expect(result.status == 0, "\(result.standardError)")
        }
        let bytes = try Data(contentsOf: URL(fileURLWithPath: first))
        #expect(bytes == (try Data(contentsOf: URL(fileURLWithPath: second))))
        let svg = try ParsedSVG(bytes)
        let network = try CheckpointFile(path: checkpoint).network
        let sides = try Self.sides(svg)
        #expect(sides.first == 92)
        #expect(sides.last == network.outputSize(forInputSize: [92, 92])?.first)
        let total = try svg.elements(class: "total-parameters").first?.integer("data-parameters")
        #expect(total == (try Fixtures.expected("paper-tiny")).totalParameters)
    }

    @Test("draw reads other formats: a milesial .pth gives the boxes of its conversion to unet-h5")
    func drawPyTorch() throws {
        let directory = try TemporaryDirectory()
        let output = directory.file("m.svg")
        let result = try runUNetCkpt(["draw", Fixtures.path("pytorch/milesial-tiny.pth"), output])
        #expect(result.status == 0, "\(result.standardError)")
        let svg = try ParsedSVG(contentsOf: output)
        let channels = try svg.elements(class: "feature-map").compactMap { $0.integer("data-channels") }
        let converted = directory.file("converted.h5")
        #expect(try runUNetCkpt(["convert", Fixtures.path("pytorch/milesial-tiny.pth"), converted]).status == 0)
        let twin = directory.file("twin.svg")
        #expect(try runUNetCkpt(["draw", converted, twin]).status == 0)
        let twinChannels = try ParsedSVG(contentsOf: twin).elements(class: "feature-map").compactMap {
            $0.integer("data-channels")
        }
        #expect(!channels.isEmpty && channels == twinChannels)
        // Same padding: the default side is 256 and comes out whole.
        #expect(try Self.sides(svg).first == 256 && Self.sides(svg).last == 256)
    }

    @Test("draw takes an architecture JSON: the paper's network, 572 → 388, with PyTorch's parameter count")
    func drawArchitectureJSON() throws {
        let directory = try TemporaryDirectory()
        let output = directory.file("paper.svg")
        let json = Fixtures.packageRoot.appendingPathComponent("docs/images/paper-unet.json").path
        let result = try runUNetCkpt(["draw", json, output])
        #expect(result.status == 0, "\(result.standardError)")
        let svg = try ParsedSVG(contentsOf: output)
        #expect(try Self.sides(svg).first == 572 && Self.sides(svg).last == 388)
        let manifest = try Fixtures.framework("paper-full")
        let total = try svg.elements(class: "total-parameters").first?.integer("data-parameters")
        #expect(total == manifest.totalParameters)
        let channels = Set(try svg.elements(class: "feature-map").compactMap { $0.integer("data-channels") })
        #expect(channels == [1, 2, 64, 128, 256, 512, 1024])
    }

    @Test("an input size the network cannot take is a usage error naming the nearest valid sizes")
    func invalidInputSize() throws {
        let directory = try TemporaryDirectory()
        let output = directory.file("never.svg")
        let checkpoint = Fixtures.path("h5py/paper-tiny.h5")
        let result = try runUNetCkpt(["draw", checkpoint, output, "--input-size", "570"])
        #expect(result.status == 64)
        let nearest = try CheckpointFile(path: checkpoint).network.nearestValidInputSides(to: 570, axis: 0)
        let below = try #require(nearest.below)
        let above = try #require(nearest.above)
        #expect(result.standardError.contains("error: --input-size 570"))
        #expect(result.standardError.contains("\(below) and \(above)"))
        #expect(!FileManager.default.fileExists(atPath: output))
        #expect(try runUNetCkpt(["draw", checkpoint, output, "--input-size", "0"]).status == 64)
    }

    @Test("unreadable inputs exit 2, unwritable outputs exit 3")
    func failures() throws {
        let directory = try TemporaryDirectory()
        let notJSON = directory.file("bad.json")
        try Data("{ not json".utf8).write(to: URL(fileURLWithPath: notJSON))
        let bad = try runUNetCkpt(["draw", notJSON, directory.file("x.svg")])
        #expect(bad.status == 2 && bad.standardError.contains("bad.json"))
        let missing = try runUNetCkpt(["draw", directory.file("missing.h5"), directory.file("x.svg")])
        #expect(missing.status == 2)
        let unwritable = try runUNetCkpt([
            "draw", Fixtures.path("h5py/paper-tiny.h5"), directory.file("no/such/dir/x.svg"),
        ])
        #expect(unwritable.status == 3)
    }

    @Test("class names from the metadata are escaped in the SVG")
    func escapedClassNames() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("classes.h5")
        var checkpoint = try syntheticCheckpoint(.paper(widths: [4, 8, 16]))
        checkpoint.metadata.classes = ["<&>", "\"quoted\""]
        try checkpoint.write(to: path)
        let output = directory.file("classes.svg")
        #expect(try runUNetCkpt(["draw", path, output, "--input-size", "92"]).status == 0)
        let svg = try ParsedSVG(contentsOf: output)
        #expect(try svg.elements(class: "classes").first?.stringValue == "classes: <&>, \"quoted\"")
    }

    @Test("inspect --plot draws one histogram per tensor counting all its values, and implies --stats")
    func inspectPlot() throws {
        let directory = try TemporaryDirectory()
        for (file, expectedName) in [
            ("h5py/milesial-tiny.h5", "h5py/milesial-tiny.expected.json"),
            ("safetensors/milesial-tiny.safetensors", "pytorch/milesial-tiny.expected.json"),
        ] {
            let output = directory.file("plot.svg")
            let result = try runUNetCkpt(["inspect", Fixtures.path(file), "--plot", output])
            #expect(result.status == 0, "\(result.standardError)")
            #expect(result.standardOutput.contains("mean"))
            let expected = try Fixtures.expected(at: expectedName)
            let panels = try ParsedSVG(contentsOf: output).elements(class: "histogram")
            #expect(panels.compactMap { $0[attribute: "data-key"] } == expected.tensors.map(\.key), "\(file)")
            for (panel, entry) in zip(panels, expected.tensors) {
                let counts = panel.descendants(named: "rect").filter { $0[attribute: "class"] == "bin" }
                    .compactMap { $0.integer("data-count") }
                #expect(counts.reduce(0, +) == entry.shape.reduce(1, *), "\(file) \(entry.key)")
            }
        }
    }
}
