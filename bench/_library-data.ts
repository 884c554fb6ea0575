// A generator of realistic app.carrel.library.book records for benchmarks: titles and authors
// in English, French, German, Spanish, Russian, Japanese and Chinese, built from word lists and
// title patterns of each language, with a few very prolific authors and many occasional ones (a
// Zipf-like spread, as in real libraries), tags, shelves, reading states, ratings, valid ISBNs,
// series and notes. Seeded: the same seed gives the same library.

import { mulberry32 } from '../tests/_random-data.ts'

export type Rng = () => number

/** mulberry32: small, fast and good enough for test data */
export const seededRng: (seed: number) => Rng = mulberry32

const pick = <T>(rng: Rng, list: readonly T[]): T => list[Math.floor(rng() * list.length)]!
/** index skewed towards the start of a list: the first entries come up far more often */
const skewed = <T>(rng: Rng, list: readonly T[], power = 2.2): T => list[Math.floor(Math.pow(rng(), power) * list.length)]!

type Language = {
  code: string
  share: number
  first: string[]
  last: string[]
  /** title patterns: {A} adjective, {N} noun ({Ns} plural), {P} place, {F} a first name */
  patterns: string[]
  adjectives: string[]
  nouns: string[]
  places: string[]
  /** how a name is written: "First Last" or "LastFirst" (CJK) */
  cjk?: boolean
}

const LANGUAGES: Language[] = [
  {
    code: 'en',
    share: 0.4,
    first: ['James', 'Mary', 'John', 'Patricia', 'Robert', 'Jennifer', 'Michael', 'Linda', 'William', 'Elizabeth', 'David', 'Barbara', 'Richard', 'Susan', 'Joseph', 'Jessica', 'Thomas', 'Sarah', 'Charles', 'Karen', 'Margaret', 'George', 'Virginia', 'Ernest', 'Agatha', 'Toni', 'Ursula', 'Kazuo', 'Zadie', 'Cormac'],
    last: ['Smith', 'Johnson', 'Williams', 'Brown', 'Jones', 'Miller', 'Davis', 'Wilson', 'Anderson', 'Taylor', 'Thomas', 'Moore', 'Martin', 'Jackson', 'Thompson', 'White', 'Harris', 'Clark', 'Lewis', 'Walker', 'Hall', 'Young', 'Allen', 'King', 'Wright', 'Scott', 'Green', 'Baker', 'Adams', 'Nelson', 'Hill', 'Campbell', 'Mitchell', 'Roberts', 'Carter', 'Phillips', 'Evans', 'Turner', 'Torres', 'Parker', 'Collins', 'Edwards', 'Stewart', 'Morris', 'Murphy', 'Cook', 'Rogers', 'Morgan', 'Cooper', 'Peterson', 'Woolf', 'Hemingway', 'Christie', 'Morrison', 'Le Guin', 'Ishiguro', 'McCarthy', 'Austen', 'Dickens', 'Orwell'],
    patterns: ['The {A} {N}', 'The {N} of {P}', '{A} {N} in {P}', 'The {N} and the {N}', '{N} of {N}', 'The Last {N}', '{F} and the {N}', '{A} {N} for {F}', 'The {A} {N} of {F}', '{N}', 'Letters from {P}', 'The {N} Who Came Back', 'Under the {A} {N}', 'Before the {N}', 'All the {A} {Ns}'],
    adjectives: ['Silent', 'Hidden', 'Broken', 'Golden', 'Lost', 'Dark', 'Secret', 'Little', 'Invisible', 'Quiet', 'Burning', 'Forgotten', 'Wild', 'Bright', 'Cold', 'Distant', 'Electric', 'Glass', 'Hollow', 'Iron', 'Last', 'Midnight', 'Northern', 'Painted', 'Red', 'Shining', 'Summer', 'Winter', 'Wandering', 'Yellow', 'Ancient', 'Bitter', 'Blue', 'Borrowed', 'Careless', 'Crimson', 'Crooked', 'Drowned', 'Empty', 'Endless', 'Fallen', 'False', 'Fragile', 'Frozen', 'Gentle', 'Grey', 'Haunted', 'Heavy', 'Honest', 'Hungry', 'Impossible', 'Innocent', 'Lonely', 'Lucky', 'Misty', 'Narrow', 'Open', 'Orange', 'Pale', 'Perfect', 'Restless', 'Rising', 'Royal', 'Sacred', 'Salt', 'Savage', 'Scarlet', 'Sleeping', 'Small', 'Southern', 'Stolen', 'Strange', 'Sudden', 'Sweet', 'Tender', 'Twisted', 'Velvet', 'Violet', 'Waking', 'Wicked'],
    nouns: ['River', 'House', 'Garden', 'Sea', 'Night', 'City', 'Road', 'Mountain', 'Bridge', 'Island', 'Forest', 'Window', 'Door', 'Letter', 'Map', 'Storm', 'Harvest', 'Orchard', 'Library', 'Lighthouse', 'Kingdom', 'Shadow', 'Memory', 'Promise', 'Stranger', 'Daughter', 'Son', 'Widow', 'Clockmaker', 'Cartographer', 'Inheritance', 'Rain', 'Fire', 'Stone', 'Wolf', 'Crow', 'Song', 'Dream', 'Mirror', 'Hour', 'Alchemist', 'Anchor', 'Apprentice', 'Archive', 'Ashes', 'Atlas', 'Bakery', 'Ballad', 'Beekeeper', 'Birdsong', 'Blizzard', 'Bookseller', 'Canal', 'Candle', 'Canyon', 'Carnival', 'Castle', 'Cathedral', 'Chapel', 'Circus', 'Cliff', 'Compass', 'Comet', 'Cottage', 'Courtyard', 'Creek', 'Crossing', 'Crown', 'Dancer', 'Dawn', 'Desert', 'Detective', 'Diary', 'Doctor', 'Dragon', 'Drought', 'Dune', 'Echo', 'Embassy', 'Empire', 'Engineer', 'Exile', 'Falcon', 'Ferry', 'Field', 'Fisherman', 'Flood', 'Fountain', 'Fox', 'Frontier', 'Gambler', 'Gate', 'Ghost', 'Glacier', 'Governess', 'Harbour', 'Heir', 'Heron', 'Highway', 'Horizon', 'Hotel', 'Hunter', 'Inn', 'Jewel', 'Journey', 'Judge', 'Key', 'Labyrinth', 'Lake', 'Lantern', 'Locksmith', 'Magician', 'Mapmaker', 'Marsh', 'Meadow', 'Merchant', 'Mill', 'Miner', 'Monastery', 'Moon', 'Museum', 'Navigator', 'Nightingale', 'Oasis', 'Ocean', 'Orphan', 'Painter', 'Palace', 'Pilgrim', 'Pilot', 'Poet', 'Prince', 'Prisoner', 'Prophet', 'Quarry', 'Queen', 'Railway', 'Raven', 'Reef', 'Refugee', 'Sailor', 'Saint', 'Scholar', 'Sculptor', 'Shepherd', 'Shipwreck', 'Silence', 'Sister', 'Soldier', 'Spy', 'Station', 'Steppe', 'Summit', 'Swan', 'Tailor', 'Temple', 'Tide', 'Tower', 'Traveller', 'Tunnel', 'Valley', 'Vineyard', 'Violin', 'Voyage', 'Watchmaker', 'Waterfall', 'Weaver', 'Whale', 'Wilderness', 'Witness'],
    places: ['London', 'Paris', 'the North', 'Carthage', 'the Valley', 'Avalon', 'Brooklyn', 'the Coast', 'Winterfell Road', 'the Islands', 'Dublin', 'Kyoto', 'Lagos', 'the Desert', 'Mars'],
  },
  {
    code: 'fr',
    share: 0.12,
    first: ['Marie', 'Jean', 'Pierre', 'Camille', 'Émile', 'Hélène', 'François', 'Amélie', 'Gaël', 'Noémie', 'Étienne', 'Céline', 'Joël', 'Zoé', 'André', 'Simone', 'Albert', 'Marguerite', 'Honoré', 'Gustave'],
    last: ['Martin', 'Bernard', 'Dubois', 'Lefèvre', 'Moreau', 'Laurent', 'Girard', 'Bonnet', 'Dupré', 'Mercier', 'Chevalier', 'Gauthier', 'Rousseau', 'Fontaine', 'Camus', 'Duras', 'Zola', 'Balzac', 'Flaubert', 'Proust', 'Beauvoir', 'Hugo'],
    patterns: ['La {N} {A}', 'Le {N} de {P}', 'Les {Ns} de {F}', 'Un {N} à {P}', 'La {N} et le {N}', 'Le {A} {N}', 'Mémoires de {F}', '{N}'],
    adjectives: ['étrangère', 'perdue', 'bleue', 'secrète', 'dernière', 'légère', 'éternelle', 'oubliée', 'sauvage', 'douce'],
    nouns: ['maison', 'forêt', 'rivière', 'nuit', 'mémoire', 'lettre', 'saison', 'île', 'chanson', 'fenêtre', 'rêve', 'vérité', 'jardin', 'été', 'hiver', 'château', 'étoile', 'mer', 'peste', 'chute', 'étranger', 'nausée', 'écume', 'aube', 'bibliothèque', 'cathédrale', 'cerise', 'colline', 'comédie', 'côte', 'douleur', 'éducation', 'enfance', 'épreuve', 'falaise', 'fleuve', 'frontière', 'gare', 'grève', 'horloge', 'jeunesse', 'lumière', 'montagne', 'musée', 'naufrage', 'neige', 'orage', 'pêcheur', 'phare', 'plage', 'prairie', 'reine', 'rivage', 'sable', 'silence', 'soeur', 'tempête', 'vague', 'vallée', 'vendange', 'voyageur'],
    places: ['Paris', 'Marseille', 'Bretagne', 'Montréal', 'Genève', 'Provence', 'Lyon', 'Québec'],
  },
  {
    code: 'de',
    share: 0.1,
    first: ['Hans', 'Anna', 'Jürgen', 'Lena', 'Günter', 'Käthe', 'Jörg', 'Sophie', 'Thomas', 'Ingeborg', 'Hermann', 'Christa', 'Heinrich', 'Ursula', 'Max', 'Bärbel'],
    last: ['Müller', 'Schmidt', 'Schneider', 'Fischer', 'Weber', 'Meyer', 'Wagner', 'Becker', 'Schäfer', 'Koch', 'Grass', 'Mann', 'Hesse', 'Böll', 'Kafka', 'Süskind', 'Zweig', 'Brecht'],
    patterns: ['Die {A} {N}', 'Der {N} von {P}', 'Das {N} der {Ns}', 'Ein {N} in {P}', '{N} und {N}', 'Die {Ns} des {F}'],
    adjectives: ['stille', 'große', 'letzte', 'dunkle', 'verlorene', 'blaue', 'fremde', 'schöne', 'kalte', 'grüne'],
    nouns: ['Stadt', 'Reise', 'Nacht', 'Brücke', 'Mühle', 'Straße', 'Zauberberg', 'Trommel', 'Blechtrommel', 'Verwandlung', 'Fluss', 'Garten', 'Tür', 'Schule', 'Insel', 'Abschied', 'Bahnhof', 'Berg', 'Bibliothek', 'Dämmerung', 'Erbe', 'Fährmann', 'Feuer', 'Frühling', 'Gedächtnis', 'Glocke', 'Grenze', 'Hafen', 'Heimat', 'Himmel', 'Jäger', 'Kindheit', 'Kirche', 'Küste', 'Leuchtturm', 'Mädchen', 'Meer', 'Nebel', 'Prozess', 'Regen', 'Schatten', 'Schloss', 'Schnee', 'Sommer', 'Spiegel', 'Steppenwolf', 'Sturm', 'Tagebuch', 'Turm', 'Uhrmacher', 'Wald', 'Winter', 'Wüste'],
    places: ['Berlin', 'Wien', 'München', 'Zürich', 'Köln', 'Lübeck', 'Dresden'],
  },
  {
    code: 'es',
    share: 0.1,
    first: ['José', 'María', 'Jesús', 'Lucía', 'Iñigo', 'Begoña', 'Gabriel', 'Isabel', 'Jorge', 'Ramón', 'Pilar', 'Julio', 'Laura', 'Andrés', 'Sofía'],
    last: ['García', 'Martínez', 'López', 'Sánchez', 'Pérez', 'Gómez', 'Fernández', 'Díaz', 'Núñez', 'Muñoz', 'Márquez', 'Borges', 'Cortázar', 'Allende', 'Bolaño', 'Cervantes'],
    patterns: ['La {N} {A}', 'El {N} de {P}', 'Cien años de {N}', 'Los {Ns} de {F}', 'Crónica de una {N} {A}', '{N} y {N}'],
    adjectives: ['perdida', 'última', 'secreta', 'dorada', 'olvidada', 'callada', 'eterna', 'anunciada'],
    nouns: ['casa', 'soledad', 'ciudad', 'noche', 'memoria', 'muerte', 'sombra', 'montaña', 'isla', 'canción', 'ciénaga', 'espejo', 'jardín', 'pasión', 'alba', 'biblioteca', 'cielo', 'costa', 'desierto', 'destierro', 'espíritus', 'frontera', 'fuego', 'guerra', 'herencia', 'hojarasca', 'infancia', 'laberinto', 'lluvia', 'mar', 'niebla', 'olvido', 'otoño', 'peregrino', 'puerto', 'río', 'selva', 'silencio', 'sueño', 'tierra', 'túnel', 'viaje', 'viento'],
    places: ['Madrid', 'Sevilla', 'Buenos Aires', 'Macondo', 'México', 'Lima', 'Barcelona'],
  },
  {
    code: 'ru',
    share: 0.12,
    first: ['Фёдор', 'Лев', 'Анна', 'Михаил', 'Марина', 'Иван', 'Антон', 'Ольга', 'Николай', 'Татьяна', 'Борис', 'Людмила', 'Сергей', 'Александр', 'Евгения'],
    last: ['Достоевский', 'Толстой', 'Ахматова', 'Булгаков', 'Цветаева', 'Тургенев', 'Чехов', 'Гоголь', 'Пастернак', 'Набоков', 'Пушкин', 'Лермонтов', 'Горький', 'Шолохов', 'Улицкая', 'Пелевин'],
    patterns: ['{A} {N}', '{N} и {N}', '{N} в {P}', 'Последний {N}', 'Записки из {P}', '{N} {F}'],
    adjectives: ['Белая', 'Тихий', 'Мёртвые', 'Вишнёвый', 'Тёмные', 'Красное', 'Доктор', 'Бедные', 'Золотой', 'Старый'],
    nouns: ['гвардия', 'Дон', 'души', 'сад', 'аллеи', 'колесо', 'Живаго', 'люди', 'война', 'мир', 'преступление', 'наказание', 'идиот', 'мастер', 'Маргарита', 'чайка', 'шинель', 'бесы', 'братья', 'вишня', 'вьюга', 'герой', 'гроза', 'дама', 'дорога', 'дочь', 'дуэль', 'жизнь', 'зима', 'игрок', 'капитан', 'кладбище', 'князь', 'лес', 'метель', 'море', 'нос', 'облако', 'осень', 'отцы', 'дети', 'палата', 'пароход', 'поезд', 'река', 'собака', 'степь', 'сердце', 'тишина', 'утро', 'ревизор', 'берег'],
    places: ['Москве', 'Петербурге', 'подполья', 'Сибири', 'Крыму', 'Одессе'],
  },
  {
    code: 'ja',
    share: 0.1,
    cjk: true,
    first: ['春樹', '漱石', '康成', '由紀夫', 'ばなな', '芥川', '太宰', '洋子', '一郎', '花子'],
    last: ['村上', '夏目', '川端', '三島', '吉本', '宮部', '東野', '小川', '江國', '角田'],
    patterns: ['{A}の{N}', '{N}と{N}', '{P}の{N}', '{N}物語', '{A}{N}', '{N}である'],
    adjectives: ['海辺', '静か', '赤い', '雪', '金色', '夜', '春', '遠い', '白い', '青い'],
    nouns: ['猫', '森', '国', '夜明け', 'カフカ', '図書館', '月', '川', '時計', '手紙', '鏡', 'ノルウェイ', '羊', '庭', '船', '山', '海', '雨', '風', '花', '鳥', '桜', '城', '旅', '島', '駅', '橋', '夢', '影', '星', '街', '声', '窓', '道', '雲', '灯台', 'キッチン', 'コーヒー', 'ピアノ', 'ラジオ'],
    places: ['東京', '京都', '大阪', '北海道', '沖縄', '横浜'],
  },
  {
    code: 'zh',
    share: 0.06,
    cjk: true,
    first: ['迅', '华', '莫言', '玲', '欣', '明', '伟', '芳', '静', '磊'],
    last: ['鲁', '余', '管', '张', '王', '李', '刘', '陈', '杨', '沈'],
    patterns: ['{A}{N}', '{N}与{N}', '{P}{N}', '{N}记', '{A}{N}之{N}'],
    adjectives: ['红', '白', '长', '春', '古', '活着的', '平凡的', '围'],
    nouns: ['高粱', '城', '楼梦', '世界', '江', '河', '山', '家', '故事', '呐喊', '人生', '花', '雨', '月', '海', '梦', '路', '风', '雪', '书', '桥', '镇', '湖', '茶', '灯', '船', '岛', '钟', '园', '村'],
    places: ['北京', '上海', '长安', '江南', '西湖'],
  },
]

const TAGS = ['fiction', 'classic', 'fantasy', 'science fiction', 'mystery', 'history', 'biography', 'poetry', 'philosophy', 'romance', 'thriller', 'essays', 'travel', 'cooking', 'art', 'children', 'young adult', 'horror', 'memoir', 'politics', 'economics', 'science', 'mathematics', 'religion', 'drama', 'short stories', 'graphic novel', 'nature', 'psychology', 'language', 'to reread', 'signed', 'gift', 'borrowed', 'favourite', 'book club']
const SHELVES = ['Living room', 'Office', 'Bedroom', 'Kindle', 'Attic', 'Lent out', 'Audible', 'Children’s room', 'Study', 'Cottage']
const PUBLISHERS = ['Penguin', 'Vintage', 'Gallimard', 'Suhrkamp', 'Anagrama', 'Эксмо', '新潮社', 'Faber & Faber', 'HarperCollins', 'Random House', 'Folio', 'Alfaguara', 'Hanser', '講談社', '人民文学出版社']
const NOTE_WORDS = ['loved', 'the', 'ending', 'slow', 'start', 'beautiful', 'prose', 'recommended', 'by', 'a', 'friend', 'reread', 'chapter', 'characters', 'translation', 'excellent', 'not', 'sure', 'about', 'middle', 'part', 'gift', 'from', 'my', 'sister', 'book', 'club', 'pick', 'second', 'time']

function isbn13(rng: Rng): string {
  let digits = '978' + String(Math.floor(rng() * 1e9)).padStart(9, '0')
  let sum = 0
  for (let i = 0; i < 12; i++) sum += (i % 2 === 0 ? 1 : 3) * Number(digits[i])
  return digits + String((10 - (sum % 10)) % 10)
}

function isbn10From13(isbn: string): string {
  const core = isbn.slice(3, 12)
  let sum = 0
  for (let i = 0; i < 9; i++) sum += (10 - i) * Number(core[i])
  const check = (11 - (sum % 11)) % 11
  return core + (check === 10 ? 'X' : String(check))
}

function title(rng: Rng, lang: Language): string {
  return pick(rng, lang.patterns).replace(/\{(A|Ns|N|P|F)\}/g, (_, slot: string) => {
    if (slot === 'A') return skewed(rng, lang.adjectives, 1.5)
    if (slot === 'N') return skewed(rng, lang.nouns, 1.5)
    if (slot === 'Ns') return skewed(rng, lang.nouns, 1.5) + (lang.code === 'en' ? 's' : '')
    if (slot === 'P') return pick(rng, lang.places)
    return pick(rng, lang.first)
  })
}

function authorName(rng: Rng, lang: Language, authorsByLanguage: Map<string, string[]>): string {
  // a pool per language, so that a few authors have many books and most have one or two
  const pool = authorsByLanguage.get(lang.code)!
  if (pool.length < 50 || rng() < 0.35) {
    const name = lang.cjk ? pick(rng, lang.last) + pick(rng, lang.first) : `${pick(rng, lang.first)} ${pick(rng, lang.last)}`
    pool.push(name)
    return name
  }
  return skewed(rng, pool, 3)
}

const DAY = 86_400_000

export type GeneratedBook = Record<string, unknown> & { title: string; createdAt: string }

/** `count` books of one library, in the order they were added. */
export function* generateBooks(count: number, seed = 42, now = Date.UTC(2026, 0, 1)): Generator<GeneratedBook> {
  const rng = seededRng(seed)
  const authorsByLanguage = new Map(LANGUAGES.map((l) => [l.code, [] as string[]]))
  const start = now - 6 * 365 * DAY
  for (let i = 0; i < count; i++) {
    let r = rng()
    const lang = LANGUAGES.find((l) => (r -= l.share) < 0) ?? LANGUAGES[0]!
    const added = start + Math.floor(((i + rng()) / count) * (now - start))
    const book: GeneratedBook = {
      $type: 'app.carrel.library.book',
      title: title(rng, lang),
      authors: Array.from({ length: rng() < 0.12 ? 2 : 1 }, () => authorName(rng, lang, authorsByLanguage)),
      language: lang.code,
      createdAt: new Date(added).toISOString(),
    }
    if (rng() < 0.15) book.subtitle = title(rng, lang)
    if (rng() < 0.8) {
      const isbn = isbn13(rng)
      book.identifiers = rng() < 0.3 ? { isbn13: isbn, isbn10: isbn10From13(isbn) } : { isbn13: isbn }
    }
    if (rng() < 0.7) book.publisher = pick(rng, PUBLISHERS)
    if (rng() < 0.8) book.publishedDate = String(1850 + Math.floor(Math.pow(rng(), 0.3) * 176))
    book.pages = 60 + Math.floor(rng() * rng() * 1100)
    book.format = pick(rng, ['paperback', 'paperback', 'hardcover', 'ebook', 'audiobook'])
    if (rng() < 0.15) book.series = { name: title(rng, lang), number: 1 + Math.floor(rng() * 7) }
    const tagCount = Math.floor(rng() * 4)
    if (tagCount > 0) book.tags = [...new Set(Array.from({ length: tagCount }, () => skewed(rng, TAGS, 1.6)))]
    if (rng() < 0.85) book.shelf = skewed(rng, SHELVES, 1.5)
    r = rng()
    const status = r < 0.4 ? 'toRead' : r < 0.46 ? 'reading' : r < 0.92 ? 'finished' : 'abandoned'
    book.readingStatus = status
    if (status !== 'toRead') book.startedAt = new Date(added + Math.floor(rng() * 60) * DAY).toISOString()
    if (status === 'reading') book.progress = Math.floor(rng() * 100)
    if (status === 'finished') {
      book.finishedAt = new Date(Math.min(now, added + Math.floor((10 + rng() * 200) * DAY))).toISOString()
      if (rng() < 0.8) book.rating = 1 + Math.floor(Math.pow(rng(), 0.6) * 5)
    }
    if (rng() < 0.1) book.notes = Array.from({ length: 8 + Math.floor(rng() * 40) }, () => pick(rng, NOTE_WORDS)).join(' ')
    yield book
  }
}
