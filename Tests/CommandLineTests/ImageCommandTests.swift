import Foundation
import TestSupport
import Testing
import UNetImages
import UNetInference

/// `predict` on real PNG and TIFF files against the outputs PyTorch gives (fixtures/images/).
@Suite("Command line: images")
struct ImageCommandTests {
    static var manifest: ImageManifest { get throws { try ImageManifest.committed } }

    @Test(
        "a PNG and a multi-page TIFF go in; masks, probabilities and overlays come out", arguments: try manifest.predict
    )
    func predict(_ entry: ImageManifest.Case) throws {
        let directory = try TemporaryDirectory()
        let ext = entry.pages > 1 ? "tif" : "png"
        let maskPath = directory.file("mask.\(ext)"), overlayPath = directory.file("overlay.\(ext)")
        let probabilitiesPath = directory.file("probabilities.npy")
        let result = try runUNetCkpt(
            ["predict", Fixtures.path(entry.checkpoint), "--input", Fixtures.path(entry.image)] + entry.arguments + [
                "--output", maskPath, "--overlay", overlayPath, "--probabilities", probabilitiesPath,
            ])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(try directory.contents() == ["mask.\(ext)", "overlay.\(ext)", "probabilities.npy"])

        // The mask: the reference's classes, except where the reference itself is undecided within 1e-4.
        let mask = try PixelImage(contentsOf: maskPath)
        let expected = try PixelImage(contentsOf: Fixtures.path(entry.expectedMask))
        #expect(mask.pages == entry.pages && mask.channels == 1 && mask.sampleType == .uint8)
        #expect([mask.pages, mask.height, mask.width] as [Int] == [expected.pages, expected.height, expected.width])
        let ambiguous = Set(entry.ambiguous)
        let differing = mask.values.indices.filter { mask.values[$0] != expected.values[$0] && !ambiguous.contains($0) }
        #expect(differing.isEmpty, "\(differing.count) pixels differ, first at \(differing.prefix(5))")

        // The probabilities, within 1e-4 relative.
        let probabilities = try NumpyArray(contentsOf: probabilitiesPath)
        if let reference = entry.expectedProbabilities {
            let expectedValues = try NumpyArray(contentsOf: Fixtures.path(reference))
            #expect(probabilities.shape == expectedValues.shape)
            let difference = ProbeMaker.compare(probabilities.values, expectedValues.values, rtol: 1e-4, atol: 1e-6)
            #expect(difference.within, "largest relative difference \(difference.relative)")
        }

        // The overlay: the image's size and pages, the class colours where the mask says.
        let overlay = try PixelImage(contentsOf: overlayPath)
        let input = try PixelImage(contentsOf: Fixtures.path(entry.image))
        #expect(
            [overlay.pages, overlay.channels, overlay.height, overlay.width] as [Int] == [
                input.pages, 3, input.height, input.width,
            ])
        let display = Overlay.displayValues(input)
        let plane = input.height * input.width
        var wrong = 0
        for p in 0..<input.pages {
            for i in 0..<plane {
                let k = Int(mask.values[p * plane + i])
                for c in 0..<3 {
                    let base = display[(p * input.channels + (input.channels == 3 ? c : 0)) * plane + i]
                    let colour =
                        k > 0 ? [Overlay.colour(of: k).0, Overlay.colour(of: k).1, Overlay.colour(of: k).2][c] : 0
                    let want = k > 0 ? Overlay.blend(base, colour) : base
                    if UInt8(overlay.values[(p * 3 + c) * plane + i]) != want { wrong += 1 }
                }
            }
        }
        #expect(wrong == 0)
    }

    @Test("a multi-page TIFF gives a multi-page probability TIFF: one page per class and input page")
    func multiPageProbabilities() throws {
        let entry = try #require(try Self.manifest.predict.first { $0.pages > 1 })
        let directory = try TemporaryDirectory()
        let result = try runUNetCkpt(
            ["predict", Fixtures.path(entry.checkpoint), "--input", Fixtures.path(entry.image)] + entry.arguments + [
                "--probabilities", directory.file("p.tiff"),
            ])
        #expect(result.status == 0, "\(result.standardError)")
        let probabilities = try PixelImage(contentsOf: directory.file("p.tiff"))
        #expect(probabilities.pages == entry.pages * 2 && probabilities.sampleType == .float32)
    }

    @Test("the default tile of a valid network covers the image: the output is the image's size")
    func defaultTiling() throws {
        let directory = try TemporaryDirectory()
        let result = try runUNetCkpt([
            "predict", Fixtures.path("h5py/paper-tiny.h5"), "--input", Fixtures.path("images/grey8.png"),
            "--output", directory.file("out.npy"),
        ])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardError.contains("overlap-tile 104 → 64"))
        #expect(result.standardError.contains("normalisation scale 1/255, mean 0, std 1"))  // the metadata's
        #expect(try NumpyArray(contentsOf: directory.file("out.npy")).shape == [1, 2, 48, 64])
    }

    @Test(
        "unsupported images: exit 2 and one line naming the file and what is unsupported",
        arguments: try manifest.unsupported)
    func unsupported(_ entry: ImageManifest.Unsupported) throws {
        let directory = try TemporaryDirectory()
        let path = Fixtures.path(entry.file)
        let result = try runUNetCkpt([
            "predict", Fixtures.path("h5py/paper-tiny.h5"), "--input", path, "--output", directory.file("mask.png"),
        ])
        #expect(result.status == 2)
        let lines = result.standardError.split(separator: "\n")
        #expect(lines.count == 1, "\(result.standardError)")
        #expect(lines.first.map { $0.hasPrefix("error: \(path): ") && $0.contains(entry.mustMention) } == true)
        #expect(try directory.contents().isEmpty)
    }

    @Test("a channel count the network does not take is a clear error")
    func channels() throws {
        let directory = try TemporaryDirectory()
        let result = try runUNetCkpt([
            "predict", Fixtures.path("h5py/paper-tiny.h5"), "--input", Fixtures.path("images/rgb8.png"),
            "--output", directory.file("mask.png"),
        ])
        #expect(result.status == 2)
        #expect(result.standardError.contains("an RGB image (3 channels); the network takes 1 channel"))
    }

    @Test("a PNG output for a multi-page input is a usage error, and nothing is written")
    func multiPagePNG() throws {
        let directory = try TemporaryDirectory()
        let result = try runUNetCkpt([
            "predict", Fixtures.path("h5py/paper-tiny.h5"), "--input", Fixtures.path("images/pages3-u16.tif"),
            "--output", directory.file("mask.png"),
        ])
        #expect(result.status == 64)
        #expect(result.standardError.contains("a PNG holds one page"))
        #expect(try directory.contents().isEmpty)
    }

    @Test("bad options are refused before running")
    func usage() throws {
        let directory = try TemporaryDirectory()
        let base = ["predict", Fixtures.path("h5py/paper-tiny.h5"), "--input", Fixtures.path("images/grey8.png")]
        for arguments in [
            ["--output", directory.file("mask.jpg")], ["--overlay", directory.file("o.npy")],
            ["--output", directory.file("m.png"), "--normalize", "scale=x"],
            ["--output", directory.file("m.png"), "--threshold", "2"], [],
        ] {
            let result = try runUNetCkpt(base + arguments)
            #expect(result.status == 64, "\(arguments): \(result.standardError)")
        }
        #expect(try directory.contents().isEmpty)
    }

    @Test("an unwritable destination exits 3 and leaves nothing behind")
    func unwritable() throws {
        let directory = try TemporaryDirectory()
        let result = try runUNetCkpt([
            "predict", Fixtures.path("h5py/paper-tiny.h5"), "--input", Fixtures.path("images/grey8.png"),
            "--output", directory.file("missing/mask.png"),
        ])
        #expect(result.status == 3)
        #expect(try directory.contents().isEmpty)
    }
}
