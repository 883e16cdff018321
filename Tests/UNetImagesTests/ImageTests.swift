import Crypto
import Foundation
import TestSupport
import Testing
import UNetCheckpoint
import UNetImages
import UNetInference

/// Reading real PNG and TIFF files (written by Pillow and tifffile), and refusing what is unsupported.
@Suite("Image files")
struct ImageFileTests {
    static var manifest: ImageManifest { get throws { try ImageManifest.committed } }

    @Test("the manifest lists the images, cases and unsupported files")
    func manifestPresent() throws {
        let manifest = try Self.manifest
        #expect(manifest.decode.count >= 6)
        #expect(manifest.predict.count >= 5)
        #expect(manifest.unsupported.count >= 7)
    }

    /// The image's samples in `[pages, height, width, channels]` order, little-endian, as the
    /// generator hashed them.
    static func interleavedBytes(_ image: PixelImage) -> [UInt8] {
        var bytes: [UInt8] = []
        let plane = image.height * image.width
        for p in 0..<image.pages {
            for i in 0..<plane {
                for c in 0..<image.channels {
                    let value = image.values[(p * image.channels + c) * plane + i]
                    switch image.sampleType {
                    case .uint8: bytes.append(UInt8(value))
                    case .uint16: withUnsafeBytes(of: UInt16(value).littleEndian) { bytes += $0 }
                    case .float32: withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 }
                    }
                }
            }
        }
        return bytes
    }

    @Test("every image decodes to exactly the pixels the library was given", arguments: try manifest.decode)
    func decode(_ entry: ImageManifest.Decode) throws {
        let image = try PixelImage(contentsOf: Fixtures.path(entry.file))
        #expect([image.pages, image.height, image.width, image.channels] as [Int] == entry.shape)
        #expect(image.sampleType.rawValue == entry.dtype)
        #expect(Double(image.values[0]) == entry.first)
        #expect(Double(image.values.min()!) == entry.min && Double(image.values.max()!) == entry.max)
        let digest = SHA256.hash(data: Self.interleavedBytes(image)).map { String(format: "%02x", $0) }.joined()
        #expect(digest == entry.sha256)
    }

    @Test(
        "unsupported and damaged images are refused naming the file and what is wrong",
        arguments: try manifest.unsupported)
    func unsupported(_ entry: ImageManifest.Unsupported) {
        let path = Fixtures.path(entry.file)
        #expect {
            _ = try PixelImage(contentsOf: path)
        } throws: { error in
            let description = (error as? ImageError)?.description ?? ""
            return description.hasPrefix(path + ": ") && description.contains(entry.mustMention)
                && !description.contains("\n")
        }
    }

    @Test("a missing file is one clear error")
    func missing() {
        #expect {
            _ = try PixelImage(contentsOf: "/nonexistent/image.png")
        } throws: { error in (error as? ImageError)?.description == "/nonexistent/image.png: cannot open the file" }
    }
}

/// Writing images and reading them back; every write is atomic.
@Suite("Image writing")
struct ImageWritingTests {
    static func raster(pages: Int, channels: Int, type: PixelImage.SampleType) -> (Raster, [Float]) {
        let (h, w) = (5, 7)
        var planar = [Float](repeating: 0, count: pages * channels * h * w)
        var bytes: [UInt8] = []
        for p in 0..<pages {
            for i in 0..<(h * w) {
                for c in 0..<channels {
                    let value: Float
                    switch type {
                    case .uint8: value = Float((p * 31 + i * 7 + c * 50) % 256)
                    case .uint16: value = Float((p * 3001 + i * 977 + c * 20000) % 65536)
                    case .float32: value = Float(p) - 0.37 * Float(i) + 1e-3 * Float(c)
                    }
                    planar[(p * channels + c) * h * w + i] = value
                    switch type {
                    case .uint8: bytes.append(UInt8(value))
                    case .uint16: withUnsafeBytes(of: UInt16(value)) { bytes += $0 }
                    case .float32: withUnsafeBytes(of: value) { bytes += $0 }
                    }
                }
            }
        }
        return (Raster(pages: pages, height: h, width: w, channels: channels, sampleType: type, bytes: bytes), planar)
    }

    @Test(
        "PNG and TIFF round trips keep every value",
        arguments: [
            ("png", 1, 1, PixelImage.SampleType.uint8), ("png", 1, 3, .uint8), ("png", 1, 1, .uint16),
            ("png", 1, 3, .uint16), ("tif", 3, 1, .uint8), ("tif", 2, 3, .uint16), ("tif", 4, 1, .float32),
            ("tiff", 1, 3, .float32),
        ])
    func roundTrip(_ ext: String, _ pages: Int, _ channels: Int, _ type: PixelImage.SampleType) throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("image.\(ext)")
        let (raster, planar) = Self.raster(pages: pages, channels: channels, type: type)
        try ImageOutput.write(raster, to: path)
        let image = try PixelImage(contentsOf: path)
        let shape: [Int] = [image.pages, image.channels, image.height, image.width]
        #expect(shape == [pages, channels, 5, 7])
        #expect(image.sampleType == type)
        #expect(image.values == planar)
        #expect(try directory.contents() == ["image.\(ext)"])  // no temporary file left
    }

    @Test("a write into a missing directory fails and leaves nothing")
    func writeFailure() throws {
        let (raster, _) = Self.raster(pages: 1, channels: 1, type: .uint8)
        #expect(throws: (any Error).self) { try ImageOutput.write(raster, to: "/nonexistent/dir/mask.png") }
    }

    @Test("probabilities as TIFF: one float32 page per class and input page")
    func probabilityPages() throws {
        let directory = try TemporaryDirectory()
        let map = FeatureMap(
            batch: 2, channels: 3, height: 2, width: 2, values: (0..<24).map { Float($0) / 24 })
        try ImageOutput.writeProbabilities(map, to: directory.file("p.tif"))
        let image = try PixelImage(contentsOf: directory.file("p.tif"))
        #expect(image.pages == 6 && image.channels == 1 && image.sampleType == .float32)
        #expect(image.values == map.values)
        try ImageOutput.writeProbabilities(map, to: directory.file("p.npy"))
        #expect(try NumpyArray(contentsOf: directory.file("p.npy")) == NumpyArray(map))
    }
}

/// Normalisation, heads, tiling plans and overlays.
@Suite("Image inference helpers")
struct ImageInferenceTests {
    @Test("--normalize parses none, fractions and per-channel lists")
    func parse() throws {
        #expect(try Normalization(parsing: "none") == .identity)
        let n = try Normalization(parsing: "scale=1/255,mean=0.485:0.456:0.406,std=0.229:0.224:0.225")
        #expect(n.scale == 1.0 / 255 && n.mean == [0.485, 0.456, 0.406] && n.std == [0.229, 0.224, 0.225])
        #expect(try Normalization(parsing: "mean=0.5") == Normalization(scale: 1, mean: [0.5], std: [1]))
        #expect(try Normalization(parsing: "scale=1/255").description == "scale 1/255, mean 0, std 1")
        for bad in ["scale=abc", "colour=1", "std=0", "scale=1/0", "scale", "scale=1,scale=2", "scale=1:2", ""] {
            #expect(throws: ImageError.self, "\(bad)") { try Normalization(parsing: bad) }
        }
        #expect(n.problem(channels: 1) != nil && n.problem(channels: 3) == nil)
    }

    @Test("normalisation multiplies by the scale first, then subtracts the mean and divides by the std per channel")
    func order() {
        let image = PixelImage(
            pages: 1, channels: 2, height: 1, width: 2, sampleType: .uint8, values: [0, 255, 51, 102])
        let map = Normalization(scale: 1.0 / 255, mean: [0.5, 0.1], std: [0.5, 0.2]).apply(image, page: 0)
        #expect(map.shape == [1, 2, 1, 2])
        let expected: [Double] = [(0 - 0.5) / 0.5, (1 - 0.5) / 0.5, (0.2 - 0.1) / 0.2, (0.4 - 0.1) / 0.2]
        for (a, b) in zip(map.values, expected) { #expect(abs(Double(a) - b) < 1e-6) }
        let recorded = Normalization(CheckpointMetadata.InputNormalization(scale: 0.5))
        #expect(recorded == Normalization(scale: 0.5, mean: [0], std: [1]))
    }

    @Test("softmax heads take the argmax; sigmoid heads threshold strictly")
    func heads() throws {
        let logits = FeatureMap(batch: 1, channels: 2, height: 1, width: 3, values: [1, 0, 2, 0, 1, 2])
        let softmax = Segmentation(try UNetArchitecture.paper(inChannels: 1, outChannels: 2, widths: [4, 8]).network())
        #expect(softmax.head == .softmax && softmax.classCount == 2)
        let p = softmax.probabilities(logits)
        #expect(abs(p.values[0] - Float(1 / (1 + exp(-1.0)))) < 1e-6)
        #expect(softmax.mask(p, threshold: 0.5).values == [0, 1, 0])  // a tie takes the first class

        let sigmoid = Segmentation(try UNetArchitecture.paper(inChannels: 1, outChannels: 1, widths: [4, 8]).network())
        #expect(sigmoid.head == .sigmoid && sigmoid.classCount == 2 && !sigmoid.outputIsProbability)
        let single = FeatureMap(batch: 1, channels: 1, height: 1, width: 3, values: [-1, 0, 1])
        #expect(sigmoid.mask(sigmoid.probabilities(single), threshold: 0.5).values == [0, 0, 1])
        #expect(sigmoid.mask(sigmoid.probabilities(single), threshold: 0.2).values == [1, 1, 1])
    }

    @Test("tiling plans: valid networks always tile, no larger than needed; same networks run whole when they can")
    func plans() throws {
        let paper = try CheckpointFile(path: Fixtures.path("h5py/paper-tiny.h5")).read()
        #expect(
            TilePlan.automatic(for: paper.network, metadata: paper.metadata, height: 48, width: 64)
                == .tiled(tile: 104))
        // Larger than the recorded training tile's output (572 → 532): the training tile.
        #expect(
            TilePlan.automatic(for: paper.network, metadata: paper.metadata, height: 600, width: 900)
                == .tiled(tile: 572))
        // No recorded tile: the valid side nearest 572.
        #expect(
            TilePlan.automatic(for: paper.network, metadata: nil, height: 2000, width: 2000) == .tiled(tile: 572))
        let milesial = try CheckpointFile(path: Fixtures.path("h5py/milesial-tiny.h5")).read()
        #expect(TilePlan.automatic(for: milesial.network, metadata: nil, height: 48, width: 64) == .whole)
        #expect(
            TilePlan.automatic(for: milesial.network, metadata: nil, height: 2000, width: 2000)
                == .tiled(tile: 512))
    }

    @Test("overlays blend the class colour at 0.45 and leave the background as the image")
    func overlay() {
        let image = PixelImage(
            pages: 1, channels: 1, height: 1, width: 3, sampleType: .uint16, values: [1000, 2000, 3000])
        #expect(Overlay.displayValues(image) == [0, 128, 255])
        let mask = ClassMask(pages: 1, height: 1, width: 3, classCount: 3, values: [0, 1, 2])
        let raster = Overlay.render(image, mask)
        #expect(raster.channels == 3 && raster.sampleType == .uint8)
        #expect(Array(raster.bytes[0..<3]) == [0, 0, 0])
        let red = Overlay.palette[0]
        #expect(
            Array(raster.bytes[3..<6]) == [
                Overlay.blend(128, red.0), Overlay.blend(128, red.1), Overlay.blend(128, red.2),
            ])
        #expect(Overlay.blend(128, 230) == UInt8((0.55 * 128 + 0.45 * 230).rounded()))
        #expect(Overlay.colour(of: 21) == Overlay.colour(of: 1))
    }
}
