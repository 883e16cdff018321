/// A small SVG 1.1 document builder whose output is byte-for-byte deterministic: attributes keep
/// the order they were given in, numbers are written with at most two decimals and no exponent,
/// and text and attribute values are escaped (characters XML 1.0 forbids become U+FFFD).
public struct SVGDocument: Sendable {
    public var width: Double
    public var height: Double
    public private(set) var elements: [SVGElement] = []

    public init(width: Double, height: Double) {
        self.width = width
        self.height = height
    }

    public mutating func append(_ element: SVGElement) { elements.append(element) }
    public mutating func append(contentsOf elements: [SVGElement]) { self.elements += elements }

    /// The document as UTF-8 text, ending in a newline.
    public func render() -> String {
        let root = SVGElement(
            "svg",
            [
                ("xmlns", "http://www.w3.org/2000/svg"), ("version", "1.1"),
                ("width", SVGNumber.format(width)), ("height", SVGNumber.format(height)),
                ("viewBox", "0 0 \(SVGNumber.format(width)) \(SVGNumber.format(height))"),
                ("font-family", "DejaVu Sans, Helvetica, Arial, sans-serif"),
            ], children: elements)
        var output = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        root.write(to: &output, indent: 0)
        return output
    }
}

/// One SVG element: a name, attributes in order, and either children or text.
public struct SVGElement: Sendable {
    public var name: String
    public var attributes: [(String, String)]
    public var children: [SVGElement]
    public var text: String?

    public init(_ name: String, _ attributes: [(String, String)] = [], children: [SVGElement] = [], text: String? = nil)
    {
        self.name = name
        self.attributes = attributes
        self.children = children
        self.text = text
    }

    func write(to output: inout String, indent: Int) {
        output += String(repeating: " ", count: indent) + "<" + name
        for (key, value) in attributes { output += " \(key)=\"\(SVGEscaping.attribute(value))\"" }
        if let text {
            output += ">" + SVGEscaping.text(text) + "</\(name)>\n"
        } else if children.isEmpty {
            output += "/>\n"
        } else {
            output += ">\n"
            for child in children { child.write(to: &output, indent: indent + 1) }
            output += String(repeating: " ", count: indent) + "</\(name)>\n"
        }
    }
}

extension SVGElement {
    /// A group of elements.
    public static func group(_ attributes: [(String, String)] = [], _ children: [SVGElement]) -> SVGElement {
        SVGElement("g", attributes, children: children)
    }

    public static func rect(
        x: Double, y: Double, width: Double, height: Double, _ attributes: [(String, String)] = []
    ) -> SVGElement {
        SVGElement(
            "rect",
            [
                ("x", SVGNumber.format(x)), ("y", SVGNumber.format(y)), ("width", SVGNumber.format(width)),
                ("height", SVGNumber.format(height)),
            ] + attributes)
    }

    public static func line(
        from start: (x: Double, y: Double), to end: (x: Double, y: Double), _ attributes: [(String, String)] = []
    ) -> SVGElement {
        SVGElement(
            "line",
            [
                ("x1", SVGNumber.format(start.x)), ("y1", SVGNumber.format(start.y)), ("x2", SVGNumber.format(end.x)),
                ("y2", SVGNumber.format(end.y)),
            ] + attributes)
    }

    public static func polygon(_ points: [(x: Double, y: Double)], _ attributes: [(String, String)] = []) -> SVGElement
    {
        let list = points.map { "\(SVGNumber.format($0.x)),\(SVGNumber.format($0.y))" }.joined(separator: " ")
        return SVGElement("polygon", [("points", list)] + attributes)
    }

    /// Text at a point; `anchor` is `start`, `middle` or `end`.
    public static func text(
        _ content: String, x: Double, y: Double, size: Double, anchor: String = "start",
        _ attributes: [(String, String)] = []
    ) -> SVGElement {
        var all = [("x", SVGNumber.format(x)), ("y", SVGNumber.format(y)), ("font-size", SVGNumber.format(size))]
        if anchor != "start" { all.append(("text-anchor", anchor)) }
        return SVGElement("text", all + attributes, text: content)
    }
}

/// Fixed, locale-free number formatting for SVG coordinates.
public enum SVGNumber {
    /// At most two decimals, trailing zeros dropped, no exponent: `12`, `12.5`, `-0.25`.
    public static func format(_ value: Double) -> String {
        guard value.isFinite else { return "0" }
        let hundredths = Int64((value * 100).rounded())
        let sign = hundredths < 0 ? "-" : ""
        let magnitude = hundredths.magnitude
        let whole = magnitude / 100
        let fraction = magnitude % 100
        if fraction == 0 { return sign + "\(whole)" }
        let digits = fraction % 10 == 0 ? "\(fraction / 10)" : (fraction < 10 ? "0\(fraction)" : "\(fraction)")
        return sign + "\(whole).\(digits)"
    }
}

/// XML escaping for text content and attribute values.
public enum SVGEscaping {
    public static func text(_ value: String) -> String { escape(value, quotes: false) }
    public static func attribute(_ value: String) -> String { escape(value, quotes: true) }

    private static func escape(_ value: String, quotes: Bool) -> String {
        var output = ""
        output.reserveCapacity(value.utf8.count)
        for scalar in value.unicodeScalars {
            switch scalar {
            case "&": output += "&amp;"
            case "<": output += "&lt;"
            case ">": output += "&gt;"
            case "\"" where quotes: output += "&quot;"
            case "\n" where quotes: output += "&#10;"
            case "\t" where quotes: output += "&#9;"
            case "\r": output += "&#13;"
            default:
                output.unicodeScalars.append(isAllowedInXML(scalar) ? scalar : "\u{FFFD}")
            }
        }
        return output
    }

    /// XML 1.0's `Char` production.
    private static func isAllowedInXML(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x9, 0xA, 0xD, 0x20...0xD7FF, 0xE000...0xFFFD, 0x10000...0x10FFFF: true
        default: false
        }
    }
}
