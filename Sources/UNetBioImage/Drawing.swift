import Foundation
import UNetCheckpoint
import UNetDrawing
import UNetImages

/// The network drawn for the package: `unet-ckpt draw`'s SVG at the default input size, and
/// the cover, a PNG of that drawing's boxes and arrows (no text: `SVGRaster` draws shapes only)
/// at 2:1, the aspect ratio the zoo asks for.
struct Drawing {
    static let coverSize = (width: 960, height: 480)

    let svg: String
    let png: Data
    let inputSize: [Int]
    let outputSize: [Int]

    init(_ checkpoint: Checkpoint) throws {
        let network = checkpoint.network
        guard let size = FeatureMapPlan.defaultInputSize(for: network, metadata: checkpoint.metadata) else {
            throw BioImageExportError("the network has no valid input size to draw")
        }
        let plan = try FeatureMapPlan(network: network, inputSize: size)
        let diagram = UNetDiagram(
            plan: plan, classes: checkpoint.metadata.classes, source: checkpoint.metadata.source?.fileName)
        let document = diagram.document()
        svg = document.render()
        inputSize = size
        outputSize = plan.outputSize
        // The U itself: the groups of boxes and arrows, without titles, legend and numbers.
        let shapes = document.elements.filter { element in
            element.name == "g" && element.attributes.contains { $0.0 == "class" && ($0.1 == "map" || $0.1 == "arrow") }
        }
        guard let bounds = SVGRaster.bounds(of: shapes) else { throw BioImageExportError("the drawing is empty") }
        let margin = 12.0
        let raster = SVGRaster(
            shapes,
            view: (bounds.x - margin, bounds.y - margin, bounds.width + 2 * margin, bounds.height + 2 * margin),
            width: Self.coverSize.width, height: Self.coverSize.height)
        png = try Self.encode(raster)
    }

    /// PNG bytes through libpng (UNetImages), by way of a temporary file.
    private static func encode(_ raster: SVGRaster) throws -> Data {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "unet-ckpt-bioimageio-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("cover.png").path
        try ImageOutput.write(
            Raster(
                pages: 1, height: raster.height, width: raster.width, channels: 3, sampleType: .uint8,
                bytes: raster.pixels), to: file)
        guard let data = FileManager.default.contents(atPath: file) else {
            throw BioImageExportError("cannot read back the cover written to \(file)")
        }
        return data
    }
}
