-- hotel: a small European hotel group's properties, rooms, guests and their stays.
PRAGMA foreign_keys = ON;

CREATE TABLE tbl_hotel (
    htl_id INTEGER PRIMARY KEY,
    htl_name TEXT NOT NULL,
    htl_city TEXT NOT NULL,
    star_rtg INTEGER NOT NULL,
    opened_yr INTEGER
);

CREATE TABLE tbl_room (
    rm_id INTEGER PRIMARY KEY,
    htl_id INTEGER NOT NULL,
    rm_no TEXT NOT NULL,
    rm_type TEXT NOT NULL,
    nightly_rate REAL NOT NULL,
    max_occ INTEGER NOT NULL,
    FOREIGN KEY (htl_id) REFERENCES tbl_hotel (htl_id)
);

CREATE TABLE tbl_guest (
    gst_id INTEGER PRIMARY KEY,
    gst_first TEXT NOT NULL,
    gst_last TEXT NOT NULL,
    gst_ctry TEXT,
    loyalty_no TEXT
);

CREATE TABLE tbl_stay (
    stay_id INTEGER PRIMARY KEY,
    gst_id INTEGER NOT NULL,
    rm_id INTEGER NOT NULL,
    chk_in DATE NOT NULL,
    chk_out DATE,
    num_gsts INTEGER NOT NULL,
    total_amt REAL,
    FOREIGN KEY (gst_id) REFERENCES tbl_guest (gst_id),
    FOREIGN KEY (rm_id) REFERENCES tbl_room (rm_id)
);

INSERT INTO tbl_hotel VALUES (1, 'Harbourview Inn', 'Lisbon', 4, 1998);
INSERT INTO tbl_hotel VALUES (2, 'Alpine Lodge', 'Innsbruck', 3, 1985);
INSERT INTO tbl_hotel VALUES (3, 'Grand Palais', 'Paris', 5, 1911);
INSERT INTO tbl_hotel VALUES (4, 'Canal House', 'Amsterdam', 4, 2006);
INSERT INTO tbl_hotel VALUES (5, 'Old Town Rooms', 'Prague', 2, 2015);

INSERT INTO tbl_room VALUES (1, 1, '101', 'Single', 95.0, 1);
INSERT INTO tbl_room VALUES (2, 1, '102', 'Double', 140.0, 2);
INSERT INTO tbl_room VALUES (3, 1, '201', 'Double', 150.0, 2);
INSERT INTO tbl_room VALUES (4, 1, '301', 'Suite', 290.0, 4);
INSERT INTO tbl_room VALUES (5, 2, '1', 'Single', 70.0, 1);
INSERT INTO tbl_room VALUES (6, 2, '2', 'Double', 110.0, 2);
INSERT INTO tbl_room VALUES (7, 2, '3', 'Family', 165.0, 4);
INSERT INTO tbl_room VALUES (8, 3, '110', 'Double', 320.0, 2);
INSERT INTO tbl_room VALUES (9, 3, '120', 'Double', 340.0, 2);
INSERT INTO tbl_room VALUES (10, 3, '500', 'Suite', 950.0, 3);
INSERT INTO tbl_room VALUES (11, 3, '510', 'Suite', 880.0, 3);
INSERT INTO tbl_room VALUES (12, 4, 'A1', 'Single', 120.0, 1);
INSERT INTO tbl_room VALUES (13, 4, 'A2', 'Double', 175.0, 2);
INSERT INTO tbl_room VALUES (14, 4, 'B1', 'Suite', 310.0, 3);
INSERT INTO tbl_room VALUES (15, 5, '11', 'Single', 55.0, 1);
INSERT INTO tbl_room VALUES (16, 5, '12', 'Double', 80.0, 2);
INSERT INTO tbl_room VALUES (17, 5, '21', 'Family', 115.0, 4);
INSERT INTO tbl_room VALUES (18, 2, '4', 'Single', 75.0, 1);

INSERT INTO tbl_guest VALUES (1, 'Ana', 'Ferreira', 'Portugal', 'LX-1001');
INSERT INTO tbl_guest VALUES (2, 'Thomas', 'Gruber', 'Austria', NULL);
INSERT INTO tbl_guest VALUES (3, 'Claire', 'Dubois', 'France', 'LX-1002');
INSERT INTO tbl_guest VALUES (4, 'Kevin', 'O''Brien', 'Ireland', NULL);
INSERT INTO tbl_guest VALUES (5, 'Yuki', 'Mori', 'Japan', 'LX-1003');
INSERT INTO tbl_guest VALUES (6, 'Pieter', 'Smit', 'Netherlands', NULL);
INSERT INTO tbl_guest VALUES (7, 'Jana', 'Horakova', 'Czech Republic', NULL);
INSERT INTO tbl_guest VALUES (8, 'Michael', 'Brown', 'United States', 'LX-1004');
INSERT INTO tbl_guest VALUES (9, 'Sofia', 'Marino', 'Italy', NULL);
INSERT INTO tbl_guest VALUES (10, 'Lukas', 'Steiner', 'Austria', 'LX-1005');
INSERT INTO tbl_guest VALUES (11, 'Emma', 'Wilson', 'United Kingdom', NULL);
INSERT INTO tbl_guest VALUES (12, 'Carlos', 'Vega', 'Spain', NULL);
INSERT INTO tbl_guest VALUES (13, 'Mei', 'Lin', 'China', 'LX-1006');
INSERT INTO tbl_guest VALUES (14, 'Olivia', 'Jones', 'Australia', NULL);
INSERT INTO tbl_guest VALUES (15, 'Hans', 'Muller', 'Germany', NULL);

INSERT INTO tbl_stay VALUES (1, 1, 2, '2024-03-01', '2024-03-04', 2, 420.0);
INSERT INTO tbl_stay VALUES (2, 2, 6, '2024-03-02', '2024-03-05', 2, 330.0);
INSERT INTO tbl_stay VALUES (3, 3, 8, '2024-03-03', '2024-03-05', 2, 640.0);
INSERT INTO tbl_stay VALUES (4, 5, 10, '2024-03-05', '2024-03-08', 2, 2850.0);
INSERT INTO tbl_stay VALUES (5, 6, 13, '2024-03-06', '2024-03-07', 1, 175.0);
INSERT INTO tbl_stay VALUES (6, 7, 15, '2024-03-08', '2024-03-12', 1, 220.0);
INSERT INTO tbl_stay VALUES (7, 8, 4, '2024-03-10', '2024-03-14', 3, 1160.0);
INSERT INTO tbl_stay VALUES (8, 4, 12, '2024-03-11', '2024-03-13', 1, 240.0);
INSERT INTO tbl_stay VALUES (9, 9, 9, '2024-03-12', '2024-03-15', 2, 1020.0);
INSERT INTO tbl_stay VALUES (10, 10, 7, '2024-03-14', '2024-03-21', 4, 1155.0);
INSERT INTO tbl_stay VALUES (11, 11, 16, '2024-03-15', '2024-03-17', 2, 160.0);
INSERT INTO tbl_stay VALUES (12, 12, 1, '2024-03-18', '2024-03-20', 1, 190.0);
INSERT INTO tbl_stay VALUES (13, 13, 11, '2024-03-19', '2024-03-22', 3, 2640.0);
INSERT INTO tbl_stay VALUES (14, 1, 3, '2024-03-22', '2024-03-24', 2, 300.0);
INSERT INTO tbl_stay VALUES (15, 3, 9, '2024-03-25', '2024-03-26', 2, 340.0);
INSERT INTO tbl_stay VALUES (16, 15, 14, '2024-03-26', '2024-03-30', 2, 1240.0);
INSERT INTO tbl_stay VALUES (17, 2, 5, '2024-03-28', '2024-03-31', 1, 210.0);
INSERT INTO tbl_stay VALUES (18, 8, 8, '2024-04-02', '2024-04-05', 2, 960.0);
INSERT INTO tbl_stay VALUES (19, 5, 13, '2024-04-03', '2024-04-06', 2, 525.0);
INSERT INTO tbl_stay VALUES (20, 7, 17, '2024-04-05', '2024-04-07', 4, 230.0);
INSERT INTO tbl_stay VALUES (21, 10, 6, '2024-04-08', '2024-04-10', 2, 220.0);
INSERT INTO tbl_stay VALUES (22, 6, 12, '2024-04-09', '2024-04-11', 1, 240.0);
INSERT INTO tbl_stay VALUES (23, 11, 2, '2024-04-12', '2024-04-15', 2, 420.0);
INSERT INTO tbl_stay VALUES (24, 9, 10, '2024-04-15', '2024-04-17', 3, 1900.0);
INSERT INTO tbl_stay VALUES (25, 12, 16, '2024-04-18', '2024-04-22', 2, 320.0);
INSERT INTO tbl_stay VALUES (26, 3, 4, '2024-04-20', '2024-04-23', 2, 870.0);
INSERT INTO tbl_stay VALUES (27, 13, 3, '2024-04-25', '2024-04-27', 2, 300.0);
INSERT INTO tbl_stay VALUES (28, 4, 15, '2024-05-01', '2024-05-04', 1, 165.0);
INSERT INTO tbl_stay VALUES (29, 15, 11, '2024-05-02', NULL, 2, NULL);
