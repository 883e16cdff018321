/// The shapes of an SVG document drawn into RGB pixels: filled and stroked rectangles, lines
/// with their stroke width and filled polygons, in document order, on white; text is left out.
/// Enough for a picture of ``UNetDiagram``'s boxes and arrows (a cover image) without a renderer.
public struct SVGRaster: Sendable {
    public let width: Int
    public let height: Int
    /// Interleaved RGB, 8 bits per sample, row by row from the top.
    public private(set) var pixels: [UInt8]

    /// Draws `elements` (groups are walked, `text` skipped) with the region `view` (x, y,
    /// width, height in SVG units) scaled to fit `width` × `height` pixels, centred.
    public init(
        _ elements: [SVGElement], view: (x: Double, y: Double, width: Double, height: Double), width: Int, height: Int
    ) {
        precondition(width > 0 && height > 0 && view.width > 0 && view.height > 0)
        self.width = width
        self.height = height
        pixels = [UInt8](repeating: 255, count: width * height * 3)
        let scale = min(Double(width) / view.width, Double(height) / view.height)
        let offset = (
            x: (Double(width) - view.width * scale) / 2 - view.x * scale,
            y: (Double(height) - view.height * scale) / 2 - view.y * scale
        )
        let transform = Transform(scale: scale, dx: offset.x, dy: offset.y)
        for element in elements { draw(element, transform) }
    }

    /// The bounding box of the rectangles, lines and polygons of `elements`, or nil if there are none.
    public static func bounds(of elements: [SVGElement]) -> (x: Double, y: Double, width: Double, height: Double)? {
        var points: [(Double, Double)] = []
        func collect(_ element: SVGElement) {
            let a = Attributes(element)
            switch element.name {
            case "g": element.children.forEach(collect)
            case "rect":
                points += [(a["x"], a["y"]), (a["x"] + a["width"], a["y"] + a["height"])]
            case "line": points += [(a["x1"], a["y1"]), (a["x2"], a["y2"])]
            case "polygon": points += a.points
            default: break
            }
        }
        elements.forEach(collect)
        guard let first = points.first else { return nil }
        var (minX, minY, maxX, maxY) = (first.0, first.1, first.0, first.1)
        for (x, y) in points {
            (minX, minY, maxX, maxY) = (min(minX, x), min(minY, y), max(maxX, x), max(maxY, y))
        }
        return (minX, minY, max(maxX - minX, 1), max(maxY - minY, 1))
    }

    // MARK: - Drawing

    private struct Transform {
        let scale: Double
        let dx: Double
        let dy: Double
        func x(_ value: Double) -> Double { value * scale + dx }
        func y(_ value: Double) -> Double { value * scale + dy }
    }

    private mutating func draw(_ element: SVGElement, _ t: Transform) {
        let a = Attributes(element)
        switch element.name {
        case "g":
            for child in element.children { draw(child, t) }
        case "rect":
            let (x0, y0) = (t.x(a["x"]), t.y(a["y"]))
            let (x1, y1) = (t.x(a["x"] + a["width"]), t.y(a["y"] + a["height"]))
            if let fill = a.color("fill") { fillRect(x0, y0, x1, y1, fill) }
            if let stroke = a.color("stroke") {
                let w = max(a["stroke-width", default: 1] * t.scale, 1)
                for (p, q) in [((x0, y0), (x1, y0)), ((x1, y0), (x1, y1)), ((x1, y1), (x0, y1)), ((x0, y1), (x0, y0))] {
                    line(p, q, width: w, stroke)
                }
            }
        case "line":
            guard let stroke = a.color("stroke") else { return }
            line(
                (t.x(a["x1"]), t.y(a["y1"])), (t.x(a["x2"]), t.y(a["y2"])),
                width: max(a["stroke-width", default: 1] * t.scale, 1), stroke)
        case "polygon":
            guard let fill = a.color("fill") else { return }
            polygon(a.points.map { (t.x($0.0), t.y($0.1)) }, fill)
        default:
            break
        }
    }

    private mutating func set(_ x: Int, _ y: Int, _ color: (UInt8, UInt8, UInt8)) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let index = (y * width + x) * 3
        pixels[index] = color.0
        pixels[index + 1] = color.1
        pixels[index + 2] = color.2
    }

    private func pixelRange(_ a: Double, _ b: Double, limit: Int) -> ClosedRange<Int>? {
        let low = max(Int((min(a, b)).rounded(.down)), 0)
        let high = min(Int((max(a, b)).rounded(.up)) - 1, limit - 1)
        return low <= high ? low...high : nil
    }

    private mutating func fillRect(
        _ x0: Double, _ y0: Double, _ x1: Double, _ y1: Double, _ color: (UInt8, UInt8, UInt8)
    ) {
        guard let xs = pixelRange(x0, x1, limit: width), let ys = pixelRange(y0, y1, limit: height) else { return }
        for y in ys { for x in xs { set(x, y, color) } }
    }

    /// A segment of the given width: every pixel whose centre lies within half the width of it.
    private mutating func line(
        _ p: (Double, Double), _ q: (Double, Double), width lineWidth: Double, _ color: (UInt8, UInt8, UInt8)
    ) {
        let half = lineWidth / 2
        guard let xs = pixelRange(min(p.0, q.0) - half, max(p.0, q.0) + half, limit: width),
            let ys = pixelRange(min(p.1, q.1) - half, max(p.1, q.1) + half, limit: height)
        else { return }
        let (dx, dy) = (q.0 - p.0, q.1 - p.1)
        let length = dx * dx + dy * dy
        for y in ys {
            for x in xs {
                let (cx, cy) = (Double(x) + 0.5, Double(y) + 0.5)
                let s = length > 0 ? min(max(((cx - p.0) * dx + (cy - p.1) * dy) / length, 0), 1) : 0
                let (ex, ey) = (p.0 + s * dx - cx, p.1 + s * dy - cy)
                if ex * ex + ey * ey <= half * half { set(x, y, color) }
            }
        }
    }

    /// The pixels whose centres lie inside the polygon (even-odd rule).
    private mutating func polygon(_ points: [(Double, Double)], _ color: (UInt8, UInt8, UInt8)) {
        guard points.count >= 3,
            let xs = pixelRange(points.map(\.0).min()!, points.map(\.0).max()!, limit: width),
            let ys = pixelRange(points.map(\.1).min()!, points.map(\.1).max()!, limit: height)
        else { return }
        for y in ys {
            for x in xs {
                let (cx, cy) = (Double(x) + 0.5, Double(y) + 0.5)
                var inside = false
                var j = points.count - 1
                for i in points.indices {
                    let (a, b) = (points[i], points[j])
                    if (a.1 > cy) != (b.1 > cy), cx < (b.0 - a.0) * (cy - a.1) / (b.1 - a.1) + a.0 { inside.toggle() }
                    j = i
                }
                if inside { set(x, y, color) }
            }
        }
    }
}

/// An element's attributes read as numbers, colours and point lists.
private struct Attributes {
    let values: [String: String]

    init(_ element: SVGElement) {
        values = Dictionary(element.attributes, uniquingKeysWith: { first, _ in first })
    }

    subscript(_ name: String, default fallback: Double = 0) -> Double {
        values[name].flatMap(Double.init) ?? fallback
    }

    /// `#rrggbb`; nil for `none`, a missing attribute or another notation.
    func color(_ name: String) -> (UInt8, UInt8, UInt8)? {
        guard let text = values[name], text.count == 7, text.hasPrefix("#"),
            let value = UInt32(text.dropFirst(), radix: 16)
        else { return nil }
        return (UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF))
    }

    var points: [(Double, Double)] {
        (values["points"] ?? "").split(separator: " ").compactMap { pair in
            let parts = pair.split(separator: ",").compactMap { Double($0) }
            return parts.count == 2 ? (parts[0], parts[1]) : nil
        }
    }
}
