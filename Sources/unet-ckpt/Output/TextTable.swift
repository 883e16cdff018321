/// A plain-text table: a header row, then rows, columns padded to their widest cell.
struct TextTable {
    enum Alignment { case left, right }

    struct Column {
        let title: String
        let alignment: Alignment
        init(_ title: String, _ alignment: Alignment = .left) {
            self.title = title
            self.alignment = alignment
        }
    }

    let columns: [Column]
    private(set) var rows: [[String]] = []

    init(_ columns: [Column]) { self.columns = columns }

    mutating func append(_ cells: [String]) {
        precondition(cells.count == columns.count, "a row needs \(columns.count) cells")
        rows.append(cells)
    }

    /// The table as lines, indented by `indent` spaces, with two spaces between columns.
    func render(indent: Int = 0) -> String {
        let all = [columns.map(\.title)] + rows
        let widths = columns.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        let margin = String(repeating: " ", count: indent)
        return all.map { cells in
            let padded = columns.indices.map { column -> String in
                let fill = String(repeating: " ", count: widths[column] - cells[column].count)
                return columns[column].alignment == .left ? cells[column] + fill : fill + cells[column]
            }
            return margin + trimTrailing(padded.joined(separator: "  "))
        }.joined(separator: "\n")
    }

    private func trimTrailing(_ text: String) -> String {
        var text = text
        while text.last == " " { text.removeLast() }
        return text
    }
}
